// SQLCipher database-per-tenant, the design leyser's key-value benchmarks
// compare with.

#ifndef LEYSER_BENCH_SQLCIPHER_TENANT_H_
#define LEYSER_BENCH_SQLCIPHER_TENANT_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include <sqlite3.h>

namespace leyser::bench {

// One SQLCipher database per tenant: table kv(k BLOB PRIMARY KEY, v BLOB)
// WITHOUT ROWID, a raw 256-bit key (no passphrase derivation), WAL journal.
// Durability: synchronous=NORMAL (a commit survives a process crash, not always
// a power loss: like RocksDB with sync=false), FULL for synced writes (like
// RocksDB with sync=true).
class SqlCipherTenant {
 public:
  SqlCipherTenant(const std::string& path, bool synced) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        nullptr) != SQLITE_OK) {
      std::abort();
    }
    Exec(
        "PRAGMA key = "
        "\"x'2DD29CA851E7B56E4697B0E1F08507293D761A05CE4D1B628663F411A8086D99'"
        "\"");
    Exec("PRAGMA journal_mode = WAL");
    Exec(synced ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    Exec(
        "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT "
        "ROWID");
    Prepare("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", &put_);
    Prepare("SELECT v FROM kv WHERE k = ?", &get_);
    Prepare("SELECT k, v FROM kv ORDER BY k LIMIT ?", &scan_);
    Prepare("SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?", &scan_from_);
    Prepare("SELECT k FROM kv ORDER BY k LIMIT ?", &scan_keys_);
  }
  ~SqlCipherTenant() {
    sqlite3_finalize(put_);
    sqlite3_finalize(get_);
    sqlite3_finalize(scan_);
    sqlite3_finalize(scan_from_);
    sqlite3_finalize(scan_keys_);
    sqlite3_close(db_);
  }
  SqlCipherTenant(const SqlCipherTenant&) = delete;
  SqlCipherTenant& operator=(const SqlCipherTenant&) = delete;

  void Exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "sqlcipher: %s: %s\n", sql, sqlite3_errmsg(db_));
      std::abort();
    }
  }
  bool Put(const std::string& key, const std::string& value) {
    sqlite3_bind_blob(put_, 1, key.data(), static_cast<int>(key.size()),
                      SQLITE_STATIC);
    sqlite3_bind_blob(put_, 2, value.data(), static_cast<int>(value.size()),
                      SQLITE_STATIC);
    const bool ok = sqlite3_step(put_) == SQLITE_DONE;
    sqlite3_reset(put_);
    return ok;
  }
  bool Get(const std::string& key, std::string* value) {
    sqlite3_bind_blob(get_, 1, key.data(), static_cast<int>(key.size()),
                      SQLITE_STATIC);
    const bool ok = sqlite3_step(get_) == SQLITE_ROW;
    if (ok) {
      value->assign(static_cast<const char*>(sqlite3_column_blob(get_, 0)),
                    static_cast<std::size_t>(sqlite3_column_bytes(get_, 0)));
    }
    sqlite3_reset(get_);
    return ok;
  }
  // Up to `n` records from `start` on (keys and values read).
  std::size_t ScanFrom(const std::string& start, int n) {
    sqlite3_bind_blob(scan_from_, 1, start.data(),
                      static_cast<int>(start.size()), SQLITE_STATIC);
    sqlite3_bind_int(scan_from_, 2, n);
    return StepAll(scan_from_);
  }
  // The first `n` records (keys and values read).
  std::size_t Scan(int n) {
    sqlite3_bind_int(scan_, 1, n);
    return StepAll(scan_);
  }
  // The first `n` keys (values not read).
  std::size_t ScanKeys(int n) {
    sqlite3_bind_int(scan_keys_, 1, n);
    return StepAll(scan_keys_);
  }

 private:
  // Runs the bound `stmt` to its end: the bytes of every column of every row.
  static std::size_t StepAll(sqlite3_stmt* stmt) {
    std::size_t bytes = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(stmt); ++c)
        bytes += static_cast<std::size_t>(sqlite3_column_bytes(stmt, c));
    }
    sqlite3_reset(stmt);
    return bytes;
  }
  void Prepare(const char* sql, sqlite3_stmt** stmt) {
    if (sqlite3_prepare_v2(db_, sql, -1, stmt, nullptr) != SQLITE_OK)
      std::abort();
  }
  sqlite3* db_ = nullptr;
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* scan_ = nullptr;
  sqlite3_stmt* scan_from_ = nullptr;
  sqlite3_stmt* scan_keys_ = nullptr;
};

}  // namespace leyser::bench

#endif  // LEYSER_BENCH_SQLCIPHER_TENANT_H_
