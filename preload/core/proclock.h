// A lock shared by the processes of a session through a MAP_SHARED file,
// that a holder killed at any instruction cannot wedge.
//
// glibc's robust process-shared mutex did this until the library had to
// load into roots whose glibc is older than 2.34: there, pthread_mutex_*
// live in libpthread.so.0 (libc.so.6 has only stubs that do nothing while
// libpthread is not loaded), and the library's one dependency is libc. So
// the lock is a futex word of our own, the same in every process of a
// session, whatever glibc each was started with:
//
//   0                 free
//   PID               held by the process PID
//   PID | kWaiters    held, and someone sleeps on the futex
//
// A locker that finds it held spins briefly, then sleeps on the futex in
// slices; after each slice in which the holder has not moved it asks the
// kernel whether PID still runs (kill(PID, 0), and /proc/PID/stat for a
// zombie no one has reaped yet). A dead holder's lock is taken over, and
// proc_lock says so, so that the caller repairs what the holder left half
// done. The cost without contention is one compare-and-swap each way, as
// glibc's. The process's id comes from a page the kernel wipes in every
// child that does not share memory with its parent (MADV_WIPEONFORK): a
// fork's child never takes the lock under its parent's id, and no system
// call is made per lock.
//
// A holder that runs but has not let go for about a second is looked at
// more closely: a process of another user, or one that has nothing of the
// lock's file mapped (/proc/PID/maps, against this process's mapping of
// the word), is no process of the session (the lock word of a writer
// killed before a reboot, its id since taken by another program): its lock
// is taken over as a dead holder's.
//
// Limits: the holder is known by its process id in the locker's pid
// namespace (a session does not span pid namespaces); a holder whose id
// was reused by an undumpable process of the same user (its maps cannot
// be read) is waited for.
#pragma once
#include <atomic>
#include <cstdint>

namespace cr {

constexpr uint32_t kLockWaiters = 1u << 31;

// 0 when taken normally, 1 when taken over from a holder that died (repair
// what it left first). Another thread of this process holding it is waited
// for like any holder (the lock is not recursive).
int proc_lock(std::atomic<uint32_t>* word);
void proc_unlock(std::atomic<uint32_t>* word);

// This process's id, without a system call after the first (per process).
uint32_t self_pid();

// Whether process `pid` still runs (a zombie does not). A system call or
// three: for the slow path only.
bool pid_runs(uint32_t pid);

}  // namespace cr
