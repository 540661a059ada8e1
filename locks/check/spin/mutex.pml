/*
 * The Mutex word protocol (locks/mutex.h, locks/mutex.cc) in Promela, for an
 * exhaustive SPIN search: a second check, independent of the C++ model
 * checker (locks/check), written from the header's state table and the
 * transitions in mutex.cc. Each step names the C++ function it models.
 *
 * Three lockers, ITERS acquisitions each; locker 1 may give up (a timed
 * thread that times out, or a coroutine destroyed while it waits).
 *
 * Granularity: one Promela step (an atomic block) per operation on the word
 * or the futex queue, as in the C++ (every fetch_or/sub/and, CAS, futex
 * wait, futex wake is its own step; a load too, except one that only feeds
 * the CAS loop after it: see FRESH below); the purely local computation
 * after it (thread-private in the C++) joins that step. Each locker is
 * written as a small state machine: a label per step, `goto` to the next.
 *
 * Properties (README.md):
 *   - mutual exclusion: asserted when a locker enters its critical section;
 *   - every word value written is a row of the header's state table (with
 *     INV1), asserted in the step that writes it;
 *   - no lost wakeup: every locker terminates. A locker asleep with nobody
 *     left to wake it blocks forever, and SPIN reports the state as an
 *     invalid end state (the init process is then still waiting too);
 *   - no busy-wait in OnWake (asserted where it looks again);
 *   - at the end (init): the word is 0 and nobody is asleep.
 *
 * Mutants (one -D each), the bugs tests/check/mutate.py puts back:
 *   MUT_REGISTRATION_KEEPS_W   Arm: registered = w + N (W not cleared)
 *   MUT_STARVING_WAKE_KEEPS_W  OnWake: no fetch_and(~W) after the starving
 *                              branch's wake found nobody
 *   MUT_LEAVE_DROPS_WAKE       Leave: no WakeOneIfUnattended
 */

#ifndef ITERS
#define ITERS 2      /* acquisitions (or give-ups) per locker */
#endif
#ifndef SPURIOUS
#define SPURIOUS 1   /* spurious futex returns per run */
#endif
#ifndef GIVE_UPS
#define GIVE_UPS ITERS   /* times the timed locker may give up, per run */
#endif
#define NLOCKERS 3

/* The word: bit 0 L, bit 1 W, bits 2-9 S, bits 10-31 N (mutex.h). */
#define L_BIT   1
#define W_BIT   2
#define S_ONE   4
#define S_MASK  1020      /* 0xff << 2 */
#define N_ONE   1024
#define L_OF(x) ((x) & L_BIT)
#define W_OF(x) (((x) & W_BIT) / W_BIT)
#define S_OF(x) (((x) & S_MASK) / S_ONE)
#define N_OF(x) ((x) / N_ONE)

/* The rows of the state table in mutex.h, (L,W,S,N):
 *   0,0,0,0   free               1,0,0,0   held, nobody waits
 *   1,w,s,n>0 held, n waiters    0,1,s,n>0 free, a woken waiter runs
 *   0,w,0,n>0 free, asleep       0,0,s>0,n transient only (INV2)
 *   1,w,s>0,n a newcomer's bts hit S>0
 * (the registering rows' values are among these), with INV1 (S <= N) and N
 * at most the lockers that exist. What falls outside: W=1 with N=0, S > N,
 * N > 3, a negative word (an underflow). */
#define ROW(x) ( (L_OF(x) == 0 && W_OF(x) == 0 && S_OF(x) == 0 && N_OF(x) == 0) \
              || (L_OF(x) == 1 && W_OF(x) == 0 && S_OF(x) == 0 && N_OF(x) == 0) \
              || (L_OF(x) == 1 && N_OF(x) > 0) \
              || (L_OF(x) == 0 && W_OF(x) == 1 && N_OF(x) > 0) \
              || (L_OF(x) == 0 && S_OF(x) == 0 && N_OF(x) > 0) \
              || (L_OF(x) == 0 && W_OF(x) == 0 && S_OF(x) > 0) \
              || (L_OF(x) == 1 && S_OF(x) > 0) )
#define ROW_OK(x) ((x) >= 0 && ROW(x) && S_OF(x) <= N_OF(x) && N_OF(x) <= NLOCKERS)
#define CHECK_WORD assert(ROW_OK(word))

short word = 0;
bit   asleep[NLOCKERS];          /* in the futex queue */
bit   sleep_starving[NLOCKERS];  /* its wake bitset has kStarvingBit */
byte  spurious_left = SPURIOUS;
byte  inside = 0;                /* lockers in the critical section */

/* compare_exchange(w, desired) within a step: on success `on_ok`, else w
 * takes the value seen and `on_fail`. (compare_exchange_weak's spurious
 * failure re-reads the same value and retries: a stutter, not modelled.) */
#define CAS(desired, on_ok, on_fail) \
  if \
  :: word == w -> word = (desired); CHECK_WORD; on_ok \
  :: else -> w = word; on_fail \
  fi

/* FutexWake(word, 1, bitset) within a step: wakes one queued sleeper whose
 * bitset matches (kStarvingBit: starving sleepers only; kAnyBit: any), n =
 * how many. Which one is a nondeterministic choice: a superset of the
 * kernel's FIFO order. */
#define FUTEX_WAKE1(only_starving) \
  if \
  :: asleep[0] && (!(only_starving) || sleep_starving[0]) -> asleep[0] = 0; sleep_starving[0] = 0; n = 1 \
  :: asleep[1] && (!(only_starving) || sleep_starving[1]) -> asleep[1] = 0; sleep_starving[1] = 0; n = 1 \
  :: asleep[2] && (!(only_starving) || sleep_starving[2]) -> asleep[2] = 0; sleep_starving[2] = 0; n = 1 \
  :: else -> n = 0 \
  fi

#define may_give_up (give_ups > 0)

/* OnWake's "waited kStarvationAfter" may make this waiter starving. */
#define BECOME(x) (waited_long && ((x) & S_MASK) != S_MASK)

/* Values a step leaves behind that no later step reads: cleared, so they
 * do not split states that are the same. */
#define DEAD w = 0; nw = 0

/* A critical section starts in the step that took the lock. */
#define ENTER inside++; assert(inside == 1); DEAD; goto UNLOCK

/* The lock was not taken on the fast path: lock() (LockSlow) and a
 * coroutine (TryBeforeArm) spin first; a timed thread
 * (try_lock_until_deadline) goes straight to BlockOn: the timed locker may
 * do either. */
#define SLOW_PATH DEAD; if :: goto SPIN :: timed -> goto ARM_LOAD fi

/* After a failed OnWake (BlockOn / AsyncAcquireState::Complete): a timeout
 * leaves; a giver-up may also find its deadline passed; else sleep again. */
#define AFTER_FAILED_ONWAKE \
  waited_long = 0; DEAD; \
  if \
  :: timed_out -> goto LEAVE \
  :: else -> if :: may_give_up -> goto LEAVE :: goto SLEEP fi \
  fi

/* Free with a waiter registered and nobody waking: WakeOneIfUnattended's
 * condition to set W and wake one (INV2). */
#define UNATTENDED(x) (((x) & (L_BIT | W_BIT)) == 0 && N_OF(x) != 0)

/* A load whose value only feeds the CAS loop that follows is merged with
 * it into one step: a CAS that fails on a stale value has no effect and
 * retries with the value it saw, so the loop equals one atomic
 * read-modify-write at its successful CAS, and a decision the loop takes
 * without writing equals taking it where it was taken. -DSTEPWISE keeps
 * every load its own step (as the C++ checker does), to check that. */
#ifdef STEPWISE
#define FRESH skip
#define STEP_LOAD w = word
#define LOAD_THEN(label) atomic { w = word; goto label }
#else
#define FRESH w = word
#define STEP_LOAD skip
#define LOAD_THEN(label) goto label
#endif

/* Where WakeOneIfUnattended returns to: after ReleaseToStarving the slow
 * path, after unlock() or Leave() the next iteration. */
#define RETURN if :: release_to_starving -> release_to_starving = 0; SLOW_PATH :: else -> NEXT fi

/* The iteration is over (the lock was released, or the locker gave up). */
#define NEXT assert(!starving && !asleep[me]); iter++; w = 0; nw = 0; expected = 0; goto TOP

proctype Locker(byte me; bit timed) {
  short w, nw, expected;
  short mine;   /* OnWake: the word as this waiter's last write left it */
  bit   starving, waited_long, timed_out, release_to_starving;
  bit   n;
  byte  iter;
  byte  give_ups = (timed -> GIVE_UPS : 0);

TOP:
  /* lock() / try_lock(): TrySetLockedBit(), fetch_or(L) */
  atomic {
    if :: iter == ITERS -> goto END :: else fi;
    w = word; word = word | L_BIT; CHECK_WORD;
    if :: L_OF(w) == 0 -> goto FAST_S :: else -> SLOW_PATH fi
  }
FAST_S:
  /* TrySetLockedBit(): took L; a separate load checks S (INV4) */
  atomic {
    w = word;
    if
    :: (w & S_MASK) == 0 -> ENTER
    :: else -> release_to_starving = 1; goto UNLOCK   /* ReleaseToStarving() */
    fi
  }

SPIN:
  /* BasicMutex::SpinToLock(): load; give up once a waiter is starving
   * (lock()) or registered (a CondVar's relock, a coroutine: the first
   * branch's weaker condition admits those too, and the second lets any
   * spin give up); CAS L in if free. One iteration, then Arm: a failed
   * iteration changes nothing, so kSpinLimit iterations reach no state that
   * one iteration taken later does not (the C++ checker's model build spins
   * once too) */
  atomic {
    w = word;
    if
    :: (w & S_MASK) == 0 && L_OF(w) == 0 ->
#ifdef STEPWISE
       goto SPIN_CAS
#else
       CAS(w | L_BIT, ENTER, skip)
#endif
    :: true -> skip
    fi;
    DEAD; goto ARM_LOAD
  }
SPIN_CAS:
  atomic { CAS(w | L_BIT, ENTER, skip); DEAD; goto ARM_LOAD }

ARM_LOAD:
  LOAD_THEN(ARM);
ARM:
  /* MutexAcquisition::Arm(): take a free, unreserved lock; else register:
   * N+1, W cleared (INV5), and sleep on the value written */
  atomic {
    FRESH;
    if
    :: (w & (L_BIT | S_MASK)) == 0 -> CAS(w | L_BIT, ENTER, goto ARM)
    :: else ->
#ifdef MUT_REGISTRATION_KEEPS_W
       nw = w + N_ONE;
#else
       nw = (w + N_ONE) & ~W_BIT;
#endif
       CAS(nw, expected = nw; DEAD; goto SLEEP, goto ARM)
    fi
  }

SLEEP:
  /* BlockOn: SleepOnce -> FutexWait(word, expected, bitset): compare and
   * queue in one step; a mismatch returns at once (EAGAIN) */
  atomic {
    if
    :: word == expected -> asleep[me] = 1; sleep_starving[me] = starving
    :: else
    fi;
    expected = 0; DEAD   /* read once, by the compare */
  }
  do
  :: atomic {
       !asleep[me] ->   /* the wait returned: woken, EAGAIN, timeout, spurious */
       if
       :: may_give_up -> if :: goto LEAVE :: skip fi   /* orphaned coroutine: Leave, no OnWake */
       :: else
       fi;
       /* OnWake(): the clock read: waited kStarvationAfter? */
       if :: !starving -> if :: waited_long = 1 :: waited_long = 0 fi :: else fi;
       STEP_LOAD;
       goto ONWAKE
     }
  :: atomic { asleep[me] && spurious_left > 0 -> asleep[me] = 0; sleep_starving[me] = 0; spurious_left-- }
  :: atomic { asleep[me] && may_give_up && !timed_out -> asleep[me] = 0; sleep_starving[me] = 0; timed_out = 1 }  /* timeout / cancel */
  od;

ONWAKE:
  /* MutexAcquisition::OnWake(): load, then one CAS per try */
  atomic {
    FRESH;
    if
    :: L_OF(w) == 0 && (starving || BECOME(w) || (w & S_MASK) == 0) ->
       /* take it (INV4: only starving ones while S>0): L=1, N-1, S-1 if
        * starving, W=0 */
       nw = ((w | L_BIT) - N_ONE - (starving -> S_ONE : 0)) & ~W_BIT;
       CAS(nw, starving = 0; waited_long = 0; timed_out = 0; ENTER, goto ONWAKE)
    :: else ->
       nw = w + (BECOME(w) -> S_ONE : 0);
       if
       :: L_OF(w) == 1 ->
          /* held: the holder's unlock wakes someone; give up W, sleep */
          nw = nw & ~W_BIT;
          CAS(nw, starving = (starving || BECOME(w)); expected = nw; AFTER_FAILED_ONWAKE, goto ONWAKE)
       :: else ->
          /* free but reserved for starving waiters: set W, then wake a
           * starving one ourselves */
          nw = nw | W_BIT;
          CAS(nw, mine = nw; w = 0; goto ONWAKE_WAKE, goto ONWAKE)
       fi
    fi
  }
ONWAKE_WAKE:
  /* OnWake(): FutexWake(word, 1, kStarvingBit), at once */
  atomic {
    FUTEX_WAKE1(1);
    if
    :: n == 1 -> n = 0; expected = nw; AFTER_FAILED_ONWAKE   /* INV5's exception: sleep on W */
    :: else ->
       nw = 0;
#ifdef MUT_STARVING_WAKE_KEEPS_W
       goto ONWAKE_LOAD
#else
       goto ONWAKE_CLEAR
#endif
    fi
  }
ONWAKE_CLEAR:
  /* OnWake(): the wake found nobody: fetch_and(~W) (INV3) */
  atomic { word = word & ~W_BIT; CHECK_WORD; mine = word; goto ONWAKE_LOAD }
ONWAKE_LOAD:
  /* OnWake(): load; sleep on it if it has no W and still holds us off,
   * else look again (the loop, with this value) */
  atomic {
    w = word;
    if
    :: W_OF(w) == 0 && (L_OF(w) == 1 || (w & S_MASK) != 0) &&
       !(L_OF(w) == 0 && waited_long && (w & S_MASK) != S_MASK) ->
       mine = 0; expected = w; AFTER_FAILED_ONWAKE
    :: else ->
       /* No busy-wait: looking again at exactly the value this waiter
        * left (nobody else changed it) must be to take the lock now;
        * else it would spin until another thread runs. */
       assert(w != mine || (L_OF(w) == 0 && ((w & S_MASK) == 0 || BECOME(w))));
       mine = 0; goto ONWAKE
    fi
  }

LEAVE:
  LOAD_THEN(LEAVE_CAS);
LEAVE_CAS:
  /* MutexAcquisition::Leave(): N-1, S-1 if starving, W cleared (we may
   * hold the wake) */
  atomic {
    FRESH;
    waited_long = 0;
    nw = (w - N_ONE - (starving -> S_ONE : 0)) & ~W_BIT;
#ifdef MUT_LEAVE_DROPS_WAKE
    CAS(nw, starving = 0; timed_out = 0; give_ups--; NEXT, goto LEAVE_CAS)
#else
    /* then WakeOneIfUnattended(word, left) (INV2), starting from `left` */
    CAS(nw, starving = 0; timed_out = 0; give_ups--; w = nw; nw = 0;
            if :: UNATTENDED(w) -> goto WAKE_CHECK :: else -> RETURN fi,
        goto LEAVE_CAS)
#endif
  }

UNLOCK:
  /* unlock() / ReleaseToStarving(): fetch_sub(L); the slow path
   * (UnlockSlow: load, WakeOneIfUnattended) unless the old value was
   * exactly L */
  atomic {
    if :: !release_to_starving -> inside-- :: else fi;
    w = word; assert(L_OF(w) == 1); word = word - L_BIT; CHECK_WORD;
    if :: w != L_BIT -> DEAD; goto UNLOCK_LOAD :: else -> RETURN fi
  }
UNLOCK_LOAD:
  LOAD_THEN(WAKE_CHECK);

WAKE_CHECK:
  /* internal::WakeOneIfUnattended(): held, nobody registered, or a waiter
   * already awake (W): done; else CAS W in and wake one */
  atomic {
    FRESH;
    if
    :: UNATTENDED(w) -> CAS(w | W_BIT, goto WAKE, goto WAKE_CHECK)
    :: else -> RETURN
    fi
  }
WAKE:
  /* WakeOneIfUnattended(): WakeWord(word, 1, S>0 ? kStarvingBit : kAnyBit)
   * (w: the value before W was set) */
  atomic { FUTEX_WAKE1((w & S_MASK) != 0); n = 0; RETURN }

END:
  skip
}

init {
  atomic {
    run Locker(0, 0);
    run Locker(1, 1);
    run Locker(2, 0)
  }
  _nr_pr == 1;   /* every locker finished */
  assert(word == 0 && inside == 0);
  assert(!asleep[0] && !asleep[1] && !asleep[2])
}
