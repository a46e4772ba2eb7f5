// Imported first by tests that run many clients in one process. Every client's vault writes (fsync) and
// WebCrypto jobs share libuv's thread pool, 4 threads by default; with dozens of clients the crypto waits
// behind the disk. libuv sizes the pool when it is first used, so this must run before any file or crypto
// work — as the first import of the test file. An explicit setting from the environment wins.
process.env.UV_THREADPOOL_SIZE ??= '16';
