/* The reference merge loop snaptool's benchmark compares against: copy every data extent of a
 * sparse DIFF onto BASE in place with SEEK_DATA/SEEK_HOLE and sendfile, one extent at a time
 * (the algorithm of Firecracker's `snapshot-editor edit-memory rebase`).
 * Usage: rebase-loop BASE DIFF */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: rebase-loop BASE DIFF\n"); return 2; }
    int base = open(argv[1], O_WRONLY), diff = open(argv[2], O_RDONLY);
    if (base < 0 || diff < 0) { perror("open"); return 2; }
    struct stat st;
    if (fstat(diff, &st) != 0) { perror("fstat"); return 2; }
    off_t pos = 0;
    while (pos < st.st_size) {
        off_t start = lseek(diff, pos, SEEK_DATA);
        if (start < 0) { if (errno == ENXIO) break; perror("SEEK_DATA"); return 2; }
        off_t end = lseek(diff, start, SEEK_HOLE);
        if (end < 0) { perror("SEEK_HOLE"); return 2; }
        if (lseek(base, start, SEEK_SET) < 0) { perror("lseek"); return 2; }
        off_t off = start;
        while (off < end) {
            ssize_t n = sendfile(base, diff, &off, end - off);
            if (n <= 0) { perror("sendfile"); return 2; }
        }
        pos = end;
    }
    return 0;
}
