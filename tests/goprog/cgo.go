//go:build cgo

// A cgo build links the program dynamically against libc.
package main

// #include <stdlib.h>
import "C"

var _ = C.free
