/*
 * snaptool's built-in guest: a freestanding x86_64 program entered in 64-bit mode (ring 0, paging
 * on, identity-mapped low memory) that computes a deterministic sequence and prints one line per
 * step on COM1 (0x3f8):
 *
 *     "step NNNNNN h=XXXXXXXXXXXXXXXX\n"
 *
 *     h_0 = 0xcbf29ce484222325
 *     x   = h_{n-1} ^ n;  x ^= x << 13;  x ^= x >> 7;  x ^= x << 17
 *     h_n = (x * 0x100000001b3) ^ (x >> 29)                 (mod 2^64)
 *
 * The step number lives in r12 and the hash in r13, and the last step and hash are also stored
 * at 0x200000 and 0x200008, so a restore that loses registers or memory breaks the chain. Between
 * steps it spins DELAY iterations. Only plain integer instructions and `out`: it runs under KVM
 * and under instruction emulators alike.
 */
    .set COM1, 0x3f8
    .set STATE, 0x200000
    .set DELAY, 20000

    .text
    .code64
    .globl _start
_start:
    mov     $0x80000, %rsp
    xor     %r12, %r12
    movabs  $0xcbf29ce484222325, %r13

next_step:
    inc     %r12
    /* h = f(h, n) */
    mov     %r13, %rax
    xor     %r12, %rax
    mov     %rax, %rbx
    shl     $13, %rbx
    xor     %rbx, %rax
    mov     %rax, %rbx
    shr     $7, %rbx
    xor     %rbx, %rax
    mov     %rax, %rbx
    shl     $17, %rbx
    xor     %rbx, %rax
    mov     %rax, %rbx
    shr     $29, %rbx
    movabs  $0x100000001b3, %rcx
    imul    %rcx, %rax
    xor     %rbx, %rax
    mov     %rax, %r13
    mov     %r12, STATE
    mov     %r13, STATE + 8

    /* "step " */
    lea     prefix(%rip), %rsi
    call    puts
    /* six decimal digits of r12 (mod 1,000,000), built right to left */
    lea     digits + 6(%rip), %rdi
    mov     %r12, %rax
    mov     $6, %rcx
1:  xor     %rdx, %rdx
    mov     $10, %rbx
    div     %rbx
    add     $'0', %dl
    dec     %rdi
    mov     %dl, (%rdi)
    dec     %rcx
    jnz     1b
    lea     digits(%rip), %rsi
    call    puts
    /* " h=" and sixteen hex digits of r13 */
    lea     hmark(%rip), %rsi
    call    puts
    mov     %r13, %rbx
    mov     $16, %rcx
2:  rol     $4, %rbx
    mov     %rbx, %rax
    and     $0xf, %rax
    lea     hexdig(%rip), %rsi
    movzbl  (%rsi,%rax), %eax
    call    putc
    dec     %rcx
    jnz     2b
    mov     $'\n', %al
    call    putc

    /* wait */
    mov     $DELAY, %rcx
3:  dec     %rcx
    jnz     3b
    jmp     next_step

/* putc: writes al to COM1 */
putc:
    push    %rdx
    mov     $COM1, %dx
    out     %al, %dx
    pop     %rdx
    ret

/* puts: writes the NUL-terminated string at rsi to COM1 */
puts:
    push    %rax
4:  movzbl  (%rsi), %eax
    test    %al, %al
    jz      5f
    call    putc
    inc     %rsi
    jmp     4b
5:  pop     %rax
    ret

    .data
prefix: .asciz "step "
hmark:  .asciz " h="
hexdig: .ascii "0123456789abcdef"
digits: .asciz "000000"
