#include "locks/internal/mutex_cohort.h"

#include <memory>
#include <utility>
#include <vector>

#include "locks/mutex.h"  // RINGLOCK_MUTEX_STAT

namespace ringlock::internal {
namespace {

// A thread has a cohort only while one of its loops' coroutines holds or
// waits for a contended Mutex: a handful at most, so a short vector scan.
struct ThreadCohorts {
  std::vector<std::unique_ptr<MutexCohort>> live;
  std::vector<std::unique_ptr<MutexCohort>> spare;  // reused: no allocation per contention
};

// A trivially initialized pointer: every lock_async looks here, and a
// thread_local object with a constructor costs an init check per access.
thread_local ThreadCohorts* t_cohorts = nullptr;

ThreadCohorts& Cohorts() {
  if (t_cohorts == nullptr) {
    struct Owner {
      Owner() { t_cohorts = new ThreadCohorts; }
      ~Owner() {
        delete t_cohorts;
        t_cohorts = nullptr;
      }
    };
    thread_local Owner owner;
  }
  return *t_cohorts;
}

}  // namespace

void MutexCohort::Push(CohortWaiter* w) {
  w->next_in_cohort = nullptr;
  w->prev_in_cohort = tail;
  if (tail != nullptr) {
    tail->next_in_cohort = w;
  } else {
    head = w;
  }
  tail = w;
}

CohortWaiter* MutexCohort::Pop() {
  CohortWaiter* w = head;
  if (w != nullptr) Unlink(w);
  return w;
}

void MutexCohort::Unlink(CohortWaiter* w) {
  (w->prev_in_cohort != nullptr ? w->prev_in_cohort->next_in_cohort : head) = w->next_in_cohort;
  (w->next_in_cohort != nullptr ? w->next_in_cohort->prev_in_cohort : tail) = w->prev_in_cohort;
  w->next_in_cohort = w->prev_in_cohort = nullptr;
}

MutexCohort* FindCohort(const void* mutex, const void* loop) {
  if (t_cohorts == nullptr) return nullptr;
  for (const std::unique_ptr<MutexCohort>& c : t_cohorts->live) {
    if (c->mutex == mutex && c->loop == loop) return c.get();
  }
  return nullptr;
}

MutexCohort* FindOrAddCohort(const void* mutex, const void* loop) {
  if (MutexCohort* c = FindCohort(mutex, loop)) return c;
  ThreadCohorts& t = Cohorts();
  std::unique_ptr<MutexCohort> c;
  if (t.spare.empty()) {
    c = std::make_unique<MutexCohort>();
  } else {
    c = std::move(t.spare.back());
    t.spare.pop_back();
    *c = MutexCohort{};
  }
  c->mutex = mutex;
  c->loop = loop;
  t.live.push_back(std::move(c));
  return t.live.back().get();
}

void DropCohortIfIdle(MutexCohort* cohort) {
  if (!cohort->idle()) return;
  ThreadCohorts& t = Cohorts();
  for (size_t i = 0; i < t.live.size(); ++i) {
    if (t.live[i].get() != cohort) continue;
    std::swap(t.live[i], t.live.back());
    if (t.spare.size() < 4) t.spare.push_back(std::move(t.live.back()));
    t.live.pop_back();
    return;
  }
}

void HandOff(MutexCohort* cohort, CohortWaiter* w) {
  cohort->owned = true;
  cohort->handed = w;
  ++cohort->pending_steps;
  w->ScheduleHandoffStep(cohort);
}

void RepresentativeTookTheLock(MutexCohort* cohort) {
  cohort->representative = false;
  cohort->owned = true;
}

void GiveQueueARepresentative(MutexCohort* cohort) {
  if (cohort->head == nullptr || cohort->owned || cohort->representative) return;
  RINGLOCK_MUTEX_STAT(loop_new_representatives);
  cohort->representative = true;
  cohort->Pop()->BecomeRepresentative(cohort);
}

void EndOwnership(MutexCohort* cohort) {
  cohort->owned = false;
  cohort->slice_started = false;
  GiveQueueARepresentative(cohort);
  DropCohortIfIdle(cohort);
}

void RunHandoffStep(void* arg, bool loop_destroying) {
  auto* cohort = static_cast<MutexCohort*>(arg);
  --cohort->pending_steps;
  // Once the loop is being destroyed nothing is resumed: the handed waiter's
  // frame is destroyed instead, and its awaiter passes the lock on.
  if (!loop_destroying && cohort->handed != nullptr) {
    CohortWaiter* w = cohort->handed;
    cohort->handed = nullptr;
    w->Resume();  // may unlock, hand on, and so reach this cohort again
    return;       // the cohort is owned by w (or dropped by its unlock)
  }
  DropCohortIfIdle(cohort);
}

int LiveCohorts() { return t_cohorts == nullptr ? 0 : static_cast<int>(t_cohorts->live.size()); }

}  // namespace ringlock::internal
