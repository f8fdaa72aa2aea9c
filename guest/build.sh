#!/bin/sh
# Builds snaptool's built-in guest (guest/demo.elf, embedded in the snaptool binary) with the GNU
# toolchain. The ELF is committed so that building snaptool needs no assembler.
set -e
cd "$(dirname "$0")"
gcc -c -o demo.o demo.S
ld -nostdlib -static -no-pie -z max-page-size=4096 -Ttext=0x100000 -e _start -o demo.elf demo.o
rm -f demo.o
sha256sum demo.elf
