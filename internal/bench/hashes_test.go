package bench_test

import "github.com/bulwark-shop/bulwark/internal/identity/password"

// cheapHashes is the argon2id cost of the test runs' accounts (64 KiB, one
// pass), as in the end-to-end tests: the runs check that a scenario still
// works, not what a password hash costs.
var cheapHashes = password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
