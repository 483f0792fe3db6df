/*
 * ulog.h - the undo log: what an object was before a write that is still
 * in flight, kept where a killed daemon cannot lose it.
 *
 * A write that rewrites an object's last record in place (every append to
 * a partial last block does) or lengthens the object can be cut short by a
 * kill between two pages of its pwrite: the kernel checks for a fatal
 * signal before each page it copies, and a record (4,136 bytes) spans two
 * pages.  The record left half new and half old no longer authenticates,
 * and the file's last block, with bytes an earlier fsync made durable,
 * would read EIO.  So before such a write the object's length and its old
 * last record go into a slot of BACKING/undo, a small file the daemon maps
 * shared, and the slot is freed once the write has returned.  The page
 * cache outlives the process: a slot still in use after a kill names a
 * write that may be torn, and the next read-write open of the store puts
 * the old record and the old length back, undoing that write whole.  It
 * was never acknowledged (the reply to the kernel comes after it).
 *
 * A write into the middle of the object can tear a record there just the
 * same; its in-place bytes are saved too, up to RFS_ULOG_CHUNK at a time
 * (rfs_ulog_save), and a longer rewrite goes piece by piece, so a kill
 * leaves the pieces before whole and new, the one in flight undone, and
 * the rest old: every block reads, old or new.
 *
 * Not covered: a power cut, where the slot and the object reach the disk
 * in any order (docs/reliability.md).  Slots
 * are trusted only within the boot that wrote them: after a reboot the
 * file on disk may hold a note older than its object, and undoing it
 * would throw away writes acknowledged since, so such notes are dropped.
 *
 * File format (docs/format.md, ulog.c): a header naming the boot, then
 * RFS_ULOG_SLOTS slots of RFS_ULOG_SLOT bytes; a slot is in use when its
 * first four bytes are "RFSU", which are written last and cleared first,
 * and its piece is valid when the four bytes at RFS_ULOG_PIECE are "RFSC".
 */
#ifndef RFS_ULOG_H
#define RFS_ULOG_H

#include <stddef.h>
#include <stdint.h>

#define RFS_ULOG_FILE "undo"
#define RFS_ULOG_SLOTS 8
#define RFS_ULOG_SLOT 32768
#define RFS_ULOG_PIECE 4176       /* offset of a slot's piece */
/*
 * The most bytes a write rewrites in place under one note (see
 * rfs_ulog_save): a longer rewrite is noted and written piece by piece.
 * Six whole records, so that pieces start and end on records and a piece
 * put back never meets a new one inside a record.
 */
#define RFS_ULOG_CHUNK (6 * 4136)

struct rfs_ulog;

/*
 * Opens (read-write: makes) BACKING/undo under DIRFD.  Read-only, a store
 * without the file has nothing pending.
 */
int rfs_ulog_open(int dirfd, int readonly, struct rfs_ulog **out);
void rfs_ulog_close(struct rfs_ulog *u);

/*
 * Undoes every write left in flight in this boot, in the objects under
 * OBJFD, drops notes from an earlier boot, frees their slots and claims
 * the log for this boot (no note is taken before); *N counts the writes
 * undone.  Read-write only.
 */
int rfs_ulog_replay(struct rfs_ulog *u, int objfd, unsigned *n);

/* Whether a write to INO is pending undo, and the object length the undo
 * gives back (for a read-only check of a store a kill left behind). */
int rfs_ulog_pending(const struct rfs_ulog *u, uint64_t ino, uint64_t *len);

/*
 * Records that the object of INO, LEN bytes long, is about to change at or
 * after byte OFF, where its old last record REC (N bytes, 0 when the write
 * leaves it alone) starts.  Returns the slot, to be given to
 * rfs_ulog_end once the write has returned, or -errno (-EROFS before
 * rfs_ulog_replay).  Waits when every slot is in use.
 */
int rfs_ulog_begin(struct rfs_ulog *u, uint64_t ino, uint64_t len,
    uint64_t off, const void *rec, size_t n);
/*
 * Before the write of SLOT rewrites bytes [OFF, OFF + LEN) of the object
 * in place (LEN <= RFS_ULOG_CHUNK), saves what they hold now from FD; an
 * undo puts them back as well.  Each call replaces the previous piece.
 */
int rfs_ulog_save(struct rfs_ulog *u, int slot, int fd, uint64_t off,
    size_t len);
void rfs_ulog_end(struct rfs_ulog *u, int slot);

#endif
