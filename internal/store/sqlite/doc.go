// Package sqlite is the embedded default store: consumers and API keys in
// one SQLite file, through a pure-Go driver (no cgo). It sits beside the
// request path, on the control side: the gateway opens it at start, the
// admin API and the CLI write through it, and authentication reads it only
// on a cache miss.
//
// The file runs in WAL mode, so readers never block the writer. Writes go
// through a single connection and begin IMMEDIATE, taking the file's write
// lock up front: SQLite allows one writer anyway, and taking the lock late
// would turn concurrent read-then-write transactions into SQLITE_BUSY
// failures instead of waits. synchronous=NORMAL is durable across process
// crashes in WAL mode; only an OS crash can lose the last commits.
//
// Several processes may share the file on one host (the busy timeout makes
// them take turns, and Open retries the one case where SQLite will not
// wait: stores that open a new file at once and race to switch it to WAL);
// it must not live on a network file system.
package sqlite
