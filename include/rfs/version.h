#ifndef RFS_VERSION_H
#define RFS_VERSION_H
#define RFS_VERSION "0.1.0"
#endif
