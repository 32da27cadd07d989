#![no_std]
//! Types shared by the kernel program and userspace.
