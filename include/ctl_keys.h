/* ctl_keys: `remissctl keys rotate` (key-encryption keys of the store's
 * encryption at rest, include/atrest.h). */
#ifndef CTL_KEYS_H
#define CTL_KEYS_H

/* keys rotate --db DB --pki DIR: adds a KEK, rewraps every data key under
 * it while remissd runs, then destroys the old KEKs. Returns the exit code. */
int ctl_keys_main(int argc, char **argv);

#endif
