/* vfork: the child runs on the parent's stack until exec or _exit, so it
 * must return straight to the caller. This trampoline marks the calling
 * thread (a vfork child then records nothing: it shares our memory) and
 * jumps to the real vfork as a tail call, leaving the stack as it was. */
#if defined(__x86_64__)
    .text
    .globl vfork
    .type vfork, @function
vfork:
    .cfi_startproc
    subq $8, %rsp
    .cfi_adjust_cfa_offset 8
    call fdt_vfork_prepare
    addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    jmp *%rax
    .cfi_endproc
    .size vfork, .-vfork
#endif
    .section .note.GNU-stack,"",@progbits
