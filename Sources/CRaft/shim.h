// Canonical raft 0.15 from Debian's libraft-dev: the consensus engine whose
// `struct raft_io` the JournalRaft module implements on the journal.
#include <raft.h>
