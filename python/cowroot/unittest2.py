"""The original's module name (fakechroot.unittest2): the same TestCase as cowroot.testing."""

from .testing import TestCase

__all__ = ["TestCase"]
