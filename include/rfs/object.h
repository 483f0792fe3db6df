/*
 * object.h - encrypted file contents in the object area.
 *
 * An object is an array of records, record i at byte i * RFS_RECORD:
 *
 *   record = nonce (24) || XChaCha20-Poly1305(plaintext block) || tag (16)
 *
 * Block i holds plaintext bytes [i * RFS_BLOCK, (i+1) * RFS_BLOCK) of the
 * file.  Every block but the file's last is full; the last holds
 * size - i * RFS_BLOCK bytes, so a record's length follows from the logical
 * size.  A record that lies past the end of the object or reads as all
 * zeros is a hole and reads as zeros (a sealed record never is all zero:
 * its nonce is random).  Invariant kept by every writer: when the size
 * grows past a partial last block, that block is first re-sealed at its new
 * length, so no short record ever sits before the last block.
 *
 * The logical size is max(catalog size, size implied by the object length):
 * appends only lengthen the object, so a crash before the catalog learned
 * the new size loses nothing that reached the object.
 *
 * Callers serialise all calls on one rfs_obj (the inode lock), except
 * rfs_obj_read, which changes nothing in the object and may run beside
 * other reads (never beside a change), and rfs_obj_sync, which uses only
 * the descriptor and may run beside anything.
 */
#ifndef RFS_OBJECT_H
#define RFS_OBJECT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rfs/crypto.h"

/*
 * The largest logical size: every record's offset must fit in an off_t
 * (about 8.9 EiB).  Beyond it writes, truncates and allocations fail with
 * EFBIG; the backing filesystem usually refuses earlier with EFBIG of its
 * own (ext4 with 4 KiB blocks holds a 16 TiB object: a ~15.8 TiB file).
 */
#define RFS_OBJ_MAX_SIZE ((uint64_t)INT64_MAX / RFS_RECORD * RFS_BLOCK)

struct rfs_obj {
	int fd;
	uint64_t ino;
	struct rfs_key *key;         /* the file key, owned */
	uint64_t size;               /* logical size */
	/* Plaintext of the last block sealed, to append without decrypting. */
	unsigned char *cache;
	uint64_t cache_idx;
	size_t cache_len;
	int cache_valid;
	/*
	 * Write-behind of a streaming writer (see write_behind in
	 * object.c): the window before, [wb_prev, wb_start), being written
	 * back; the current one, from wb_start to the stream's front wb_hi;
	 * from wb_lo (UINT64_MAX: none) to wb_prev, dropped from the cache
	 * as far as it was written by then; and a write-back error found,
	 * which the next rfs_obj_sync reports.
	 */
	uint64_t wb_lo, wb_prev, wb_start, wb_hi;
	_Atomic int wb_err;
	/*
	 * The object's length and last record's nonce as this process last
	 * wrote or read them (see rfs_obj_state), when ST_VALID: what a
	 * write session's end records, without an fstat and a pread.
	 */
	uint64_t st_len;
	unsigned char st_tail[RFS_NONCE_BYTES];
	int st_has, st_valid;
	/* Where a write in flight is noted (rfs/ulog.h); NULL: nowhere. */
	struct rfs_ulog *ulog;
};

/*
 * The objects directory holds RFS_OBJ_SHARDS subdirectories, shard i named
 * by rfs_obj_shard (two hex digits); the object of INO lives in shard
 * INO % RFS_OBJ_SHARDS, so a directory holds 1/256 of the objects.
 */
#define RFS_OBJ_SHARDS 256
void rfs_obj_shard(unsigned i, char *buf, size_t len);
/* Object file name of INO relative to the objects directory. */
void rfs_obj_path(uint64_t ino, char *buf, size_t len);
/* Opens (or with CREATE makes) the object of INO; takes ownership of KEY. */
int rfs_obj_open(int objdir, uint64_t ino, int create, struct rfs_key *key,
    uint64_t catalog_size, struct rfs_obj **out);
void rfs_obj_close(struct rfs_obj *o);
ssize_t rfs_obj_read(struct rfs_obj *o, void *buf, size_t len, uint64_t off);
ssize_t rfs_obj_write(struct rfs_obj *o, const void *buf, size_t len,
    uint64_t off);
int rfs_obj_truncate(struct rfs_obj *o, uint64_t size);
/*
 * Zeroes bytes [OFF, OFF + LEN) that lie within the size; the size stays.
 * Whole blocks become holes, punched out of the object (their space is
 * freed); partial blocks and the file's last block are sealed again with
 * zeros merged in.  Where the object's file system cannot punch, every
 * block is sealed as zeros.
 */
int rfs_obj_zero(struct rfs_obj *o, uint64_t off, uint64_t len);
/*
 * Allocates the object space of the records holding bytes [OFF, OFF + LEN)
 * without changing the object's length, so later writes there cannot fail
 * for space.  Allocated but unwritten space reads as zeros: a hole.
 */
int rfs_obj_reserve(struct rfs_obj *o, uint64_t off, uint64_t len);
int rfs_obj_sync(struct rfs_obj *o, int datasync);
/*
 * Drops from the backing's page cache what write-behind left of a stream
 * before its current window (clean pages only: call it once the data is
 * written, after a sync; rfs_obj_close calls it too).
 */
void rfs_obj_drop_written(struct rfs_obj *o);
/* The object's length and the nonce of its last record (*HAS = 0 when
 * empty): what the catalog records to notice truncation and roll-back.
 * Known from this process's own writes where it can be, else read. */
int rfs_obj_state(struct rfs_obj *o, uint64_t *len,
    unsigned char nonce[RFS_NONCE_BYTES], int *has);
/*
 * Whether O is the object the catalog committed: OBJLEN bytes ending in a
 * record with nonce TAIL (all zeros for an emptied file).  0 if so, 1 if
 * not (*LEN: the object's length), or -errno.  The daemon's open and fsck
 * both judge by this.
 */
int rfs_obj_is_committed(struct rfs_obj *o, uint64_t objlen,
    const unsigned char tail[RFS_NONCE_BYTES], uint64_t *len);
/*
 * The first block-aligned file offset at or after OFF whose record may
 * hold data, skipping the object's holes (SEEK_DATA): a sparse file is
 * walked by its data.  O's size when no data follows; OFF itself when
 * the backing cannot tell.
 */
uint64_t rfs_obj_next_data(struct rfs_obj *o, uint64_t off);
/* Size implied by the object file of INO alone (0 when missing). */
int rfs_obj_stored_size(int objdir, uint64_t ino, uint64_t *size);
/* 512-byte blocks the object of INO takes on the backing (its st_blocks:
 * holes take none, records take their 40 bytes too); -ENOENT if none. */
int rfs_obj_stored_blocks(int objdir, uint64_t ino, uint64_t *blocks);
/* Overwrites the object PASSES times, fsyncs, unlinks.  Missing is fine.
 * 0, or the first unlink error (an overwrite that failed is logged). */
int rfs_obj_shred(int objdir, uint64_t ino, int passes);
/* The same for N objects, with one device flush per pass for each group
 * of up to 64 (the sweep's rate). */
int rfs_obj_shred_many(int objdir, const uint64_t *ino, size_t n,
    int passes);
/* Creates an empty object (used at create time, before any open). */
int rfs_obj_create(int objdir, uint64_t ino);

#endif
