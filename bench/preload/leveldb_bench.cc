// Debian's LevelDB driven by several threads (concurrent Put, Get and
// WriteBatch), for the preload runner:
//   ./bazelw run //bench:preload -- --metric ops_per_s='ops_per_s: ([0-9.]+)'
//       -- bazel-bin/bench/preload/leveldb_bench [THREADS] [OPS_PER_THREAD]
// LevelDB's locks are std::mutex / std::condition_variable (port::Mutex,
// port::CondVar): every write goes through its writer queue. Each thread owns
// a key range; at the end every key is read back and checked, and the
// program exits non-zero on any mismatch. Prints ops_per_s.
#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string Key(int thread, int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "t%02d-k%08d", thread, i);
  return buf;
}

// The value a key must hold at the end: its last write, by construction.
std::string Value(int thread, int i, int version) {
  return "v" + std::to_string(version) + "-" + Key(thread, i) + std::string(64, 'x');
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 4;
  const int ops = argc > 2 ? std::atoi(argv[2]) : 20000;
  char tmpl[] = "/tmp/ringlock_leveldb_XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;

  leveldb::DB* db = nullptr;
  leveldb::Options options;
  options.create_if_missing = true;
  options.write_buffer_size = 1 << 20;  // frequent compactions: the background thread works
  leveldb::Status s = leveldb::DB::Open(options, dir, &db);
  if (!s.ok()) {
    std::fprintf(stderr, "open: %s\n", s.ToString().c_str());
    return 1;
  }

  std::atomic<long> errors{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::string got;
      for (int i = 0; i < ops; ++i) {
        switch (i % 4) {
          case 0:
          case 1: {  // Put, then read back at once
            if (!db->Put(leveldb::WriteOptions(), Key(t, i), Value(t, i, 1)).ok()) ++errors;
            if (!db->Get(leveldb::ReadOptions(), Key(t, i), &got).ok() || got != Value(t, i, 1))
              ++errors;
            break;
          }
          case 2: {  // a batch: this key and a rewrite of the previous one
            leveldb::WriteBatch batch;
            batch.Put(Key(t, i), Value(t, i, 1));
            batch.Put(Key(t, i - 1), Value(t, i - 1, 2));
            if (!db->Write(leveldb::WriteOptions(), &batch).ok()) ++errors;
            break;
          }
          case 3: {  // delete and rewrite
            if (!db->Delete(leveldb::WriteOptions(), Key(t, i)).ok()) ++errors;
            if (db->Get(leveldb::ReadOptions(), Key(t, i), &got).ok()) ++errors;  // must be gone
            if (!db->Put(leveldb::WriteOptions(), Key(t, i), Value(t, i, 3)).ok()) ++errors;
            break;
          }
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Every key holds its last write.
  long checked = 0;
  std::string got;
  for (int t = 0; t < threads; ++t) {
    for (int i = 0; i < ops; ++i) {
      const int version = i % 4 == 1 ? 2 : i % 4 == 3 ? 3 : 1;
      // case 1's key is rewritten (version 2) by the batch of i+1, if it ran.
      const int expect = (i % 4 == 1 && i + 1 >= ops) ? 1 : version;
      if (!db->Get(leveldb::ReadOptions(), Key(t, i), &got).ok() || got != Value(t, i, expect)) {
        if (++errors < 5) std::fprintf(stderr, "wrong value for %s\n", Key(t, i).c_str());
      }
      ++checked;
    }
  }
  delete db;
  std::filesystem::remove_all(dir);

  // Operations: each Put/Get/Write/Delete call.
  const long calls = static_cast<long>(threads) * (ops / 4) * (2 + 2 + 1 + 3);
  std::printf("threads: %d ops_per_thread: %d keys_checked: %ld errors: %ld\n", threads, ops,
              checked, errors.load());
  std::printf("ops_per_s: %.0f\n", calls / secs);
  return errors.load() == 0 ? 0 : 1;
}
