package ipc

import (
	"errors"
	"io/fs"
	"math/rand/v2"
)

// randomTries bounds CreateRandom: with fewer than a few thousand objects
// in the namespace a random key is nearly always free, so running out of
// tries means something other than bad luck is wrong.
const randomTries = 64

// CreateRandom creates an object with a random unused key, as Python's
// sysv_ipc does for a key of None: it calls create with random keys (never
// Private) until one does not fail with an error matching fs.ErrExist, and
// returns what create returned and the key used. create should fail when the
// key is taken (sem.Create, msgq.Create and shm.Create do):
//
//	set, key, err := ipc.CreateRandom(func(k ipc.Key) (*sem.Set, error) {
//		return sem.Create(k, 1, ipc.DefaultMode)
//	})
//
// Unlike ipc.Private, the key lets unrelated processes find the object once
// they are told it.
func CreateRandom[T any](create func(Key) (T, error)) (T, Key, error) {
	var (
		v   T
		err error
	)
	for range randomTries {
		k := Key(rand.Int32())
		if k == Private {
			continue
		}
		v, err = create(k)
		if !errors.Is(err, fs.ErrExist) {
			return v, k, err
		}
	}
	return v, Private, err
}
