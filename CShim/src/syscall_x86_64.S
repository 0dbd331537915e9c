/* syscall(): fork-like raw clones (SYS_fork, SYS_clone without CLONE_VM)
 * go to fdt_syscall_forklike, which reconnects the child; vfork-like and
 * thread-like ones (SYS_vfork, SYS_clone with CLONE_VM, SYS_clone3) jump to
 * libc's syscall() with the registers and stack untouched, so the child
 * returns straight to its caller; every other call goes to
 * fdt_syscall_dispatch (hooks_syscall.c), which has syscall()'s own
 * argument registers and stack. */
#if defined(__x86_64__)
    .text
    .globl syscall
    .type syscall, @function
syscall:
    .cfi_startproc
    cmpq $57, %rdi          /* SYS_fork */
    je 1f
    cmpq $58, %rdi          /* SYS_vfork */
    je 2f
    cmpq $435, %rdi         /* SYS_clone3 */
    je 2f
    cmpq $56, %rdi          /* SYS_clone */
    jne 4f
    testq $0x100, %rsi      /* CLONE_VM */
    jnz 2f
1:  jmp fdt_syscall_forklike
4:  jmp fdt_syscall_dispatch
2:  movq fdt_real_syscall_ptr(%rip), %rax
    testq %rax, %rax
    jz 3f
    jmp *%rax
3:  subq $8, %rsp           /* not resolved yet: resolve, then retry */
    .cfi_adjust_cfa_offset 8
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %rcx
    pushq %r8
    pushq %r9               /* 8 + 8 + 48 bytes below entry: aligned */
    call fdt_real_syscall
    popq %r9
    popq %r8
    popq %rcx
    popq %rdx
    popq %rsi
    popq %rdi
    addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    jmp *%rax
    .cfi_endproc
    .size syscall, .-syscall
#endif
    .section .note.GNU-stack,"",@progbits
