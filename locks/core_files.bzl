"""The core's files, listed once: //locks:core builds them, and the model
checker (//locks/check, //tests/check) compiles the same list against its
model, so what is checked can never drift from what ships."""

CORE_SRCS = [
    "async_wait_error.cc",
    "barrier.cc",
    "condvar.cc",
    "event.cc",
    "internal/check.cc",
    "internal/mutex_cohort.cc",
    "latch.cc",
    "mutex.cc",
    "once.cc",
    "semaphore.cc",
    "shared_mutex.cc",
    "wait_any.cc",
    "wait_backend.cc",
    "wake_batch.cc",
    "watermark.cc",
]

CORE_HDRS = [
    "barrier.h",
    "condvar.h",
    "event.h",
    "latch.h",
    "mutex.h",
    "once.h",
    "semaphore.h",
    "shared_mutex.h",
    "wait_any.h",
    "wake_batch.h",
    "watermark.h",
]

CORE_INTERNAL_HDRS = [
    "internal/async_acquire.h",
    "internal/async_waits.h",
    "internal/block_on.h",
    "internal/check.h",
    "internal/mutex_cohort.h",
    "internal/mutex_lock_awaiter.h",
    "internal/spin.h",
    "internal/tsan.h",
    "internal/wait_backend.h",
    "internal/wake_sink.h",
    "internal/word.h",
    "internal/word_access.h",
]
