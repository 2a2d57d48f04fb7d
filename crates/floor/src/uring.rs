//! The io_uring relay: one multishot receive per socket into a ring of provided buffers,
//! every send submitted in a batch, one `io_uring_enter` per turn (with deferred task work,
//! so completions run when the loop asks for them, not on interrupts).
//!
//! A receive's buffer goes back to the ring when its send completes. One send per socket
//! is in flight at a time (a later one could otherwise overtake one that waits for room);
//! the rest queue behind it, which request/response loads never need.
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::{BufRingEntry, Fd};
use io_uring::{cqueue, opcode, squeue, IoUring};

const ACCEPT: u64 = 1;
const RECV: u64 = 2;
const SEND: u64 = 3;
/// Provided buffers (a power of two, as the ring needs) and the size of each.
const BUFFERS: u16 = 1024;
const BUF: usize = 16 * 1024;
/// The buffer group of the receives.
const GROUP: u16 = 0;

/// One side of a relayed connection, at the index of its descriptor number. `generation`
/// tells a completion of this connection from one of an earlier socket with that number.
struct Side {
    socket: TcpStream,
    peer: usize,
    generation: u32,
    /// A send to this socket is in flight; `queued` buffers wait for it, in order.
    sending: bool,
    queued: VecDeque<u16>,
}

/// A send in flight, by the id of the buffer it sends from.
#[derive(Clone, Copy, Default)]
struct Send {
    to: usize,
    generation: u32,
    done: usize,
    len: usize,
}

/// The provided buffers and the ring that offers them to the kernel.
struct Buffers {
    ring: *mut BufRingEntry,
    layout: Layout,
    memory: Vec<u8>,
    tail: u16,
}

impl Buffers {
    fn new() -> io::Result<Self> {
        let layout =
            Layout::from_size_align(usize::from(BUFFERS) * size_of::<BufRingEntry>(), 4096)
                .map_err(io::Error::other)?;
        // SAFETY: the layout's size is not zero.
        let ring = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if ring.is_null() {
            return Err(io::Error::other("no memory for the buffer ring"));
        }
        Ok(Buffers {
            ring,
            layout,
            memory: vec![0; usize::from(BUFFERS) * BUF],
            tail: 0,
        })
    }

    fn address(&self, id: u16) -> *const u8 {
        self.memory[usize::from(id) * BUF..].as_ptr()
    }

    /// Offers buffer `id` to the kernel again.
    fn give(&mut self, id: u16) {
        let slot = usize::from(self.tail & (BUFFERS - 1));
        // SAFETY: `slot` is inside the ring's BUFFERS entries; the kernel reads an entry
        // only once the tail (stored below, with release ordering) covers it.
        unsafe {
            let entry = &mut *self.ring.add(slot);
            entry.set_addr(self.address(id) as u64);
            entry.set_len(BUF as u32);
            entry.set_bid(id);
        }
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail is the ring's first entry's reserved field, aligned for a u16,
        // and shared with the kernel, which reads it atomically.
        unsafe {
            (*BufRingEntry::tail(self.ring).cast::<AtomicU16>())
                .store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the ring that used it is dropped
        // first (it is declared after this in `serve`).
        unsafe { std::alloc::dealloc(self.ring.cast(), self.layout) }
    }
}

pub(crate) fn serve(listener: &TcpListener, target: SocketAddr) -> io::Result<()> {
    let mut buffers = Buffers::new()?;
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .build(4096)?;
    // SAFETY: the ring memory lives in `buffers`, which outlives `ring`.
    unsafe {
        ring.submitter()
            .register_buf_ring_with_flags(buffers.ring as u64, BUFFERS, GROUP, 0)?;
    }
    for id in 0..BUFFERS {
        buffers.give(id);
    }
    let mut relay = Relay {
        sides: Vec::new(),
        sends: vec![Send::default(); usize::from(BUFFERS)],
        generation: 0,
    };
    let accept = opcode::AcceptMulti::new(Fd(listener.as_raw_fd()))
        .build()
        .user_data(ACCEPT);
    push(&mut ring, &accept)?;
    let mut completions = Vec::new();
    loop {
        ring.submit_and_wait(1)?;
        completions.clear();
        completions.extend(
            ring.completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(data, result, flags) in &completions {
            match data & 0xff {
                ACCEPT => {
                    if result >= 0 {
                        // SAFETY: a completed accept's result is a new descriptor we own.
                        let client = TcpStream::from(unsafe { OwnedFd::from_raw_fd(result) });
                        relay.open(&mut ring, client, target)?;
                    }
                    if !cqueue::more(flags) {
                        push(&mut ring, &accept)?;
                    }
                }
                RECV => relay.received(&mut ring, &mut buffers, data, result, flags)?,
                SEND => relay.sent(&mut ring, &mut buffers, data, result)?,
                _ => {}
            }
        }
    }
}

struct Relay {
    sides: Vec<Option<Side>>,
    sends: Vec<Send>,
    generation: u32,
}

impl Relay {
    fn open(
        &mut self,
        ring: &mut IoUring,
        client: TcpStream,
        target: SocketAddr,
    ) -> io::Result<()> {
        let Ok(server) = crate::prepare(&client).and_then(|()| crate::connect(target)) else {
            return Ok(());
        };
        let (c, s) = (client.as_raw_fd() as usize, server.as_raw_fd() as usize);
        if self.sides.len() <= c.max(s) {
            self.sides.resize_with(c.max(s) + 1, || None);
        }
        for (index, socket, peer) in [(c, client, s), (s, server, c)] {
            self.generation = self.generation.wrapping_add(1);
            self.sides[index] = Some(Side {
                socket,
                peer,
                generation: self.generation,
                sending: false,
                queued: VecDeque::new(),
            });
            push(ring, &receive(index, self.generation))?;
        }
        Ok(())
    }

    /// The side a completion was for, if it is still that connection.
    fn side(&self, index: usize, generation: u32) -> Option<&Side> {
        self.sides
            .get(index)?
            .as_ref()
            .filter(|side| side.generation == generation)
    }

    fn received(
        &mut self,
        ring: &mut IoUring,
        buffers: &mut Buffers,
        data: u64,
        result: i32,
        flags: u32,
    ) -> io::Result<()> {
        let (index, generation) = (((data >> 8) & 0xff_ffff) as usize, (data >> 32) as u32);
        let buffer = cqueue::buffer_select(flags);
        let Some(side) = self.side(index, generation) else {
            if let Some(id) = buffer {
                buffers.give(id);
            }
            return Ok(());
        };
        let peer = side.peer;
        let (Ok(len), Some(id)) = (usize::try_from(result), buffer) else {
            if let Some(id) = buffer {
                buffers.give(id);
            }
            if result == -libc_enobufs() {
                // Every buffer is in flight: wait for sends to give some back.
                return push(ring, &receive(index, generation));
            }
            self.close(buffers, index);
            return Ok(());
        };
        if len == 0 {
            buffers.give(id);
            self.close(buffers, index);
            return Ok(());
        }
        let Some(to) = self.sides.get_mut(peer).and_then(Option::as_mut) else {
            buffers.give(id);
            return Ok(());
        };
        self.sends[usize::from(id)] = Send {
            to: peer,
            generation: to.generation,
            done: 0,
            len,
        };
        if to.sending {
            to.queued.push_back(id);
        } else {
            to.sending = true;
            push(ring, &send(to, buffers, id, 0, len))?;
        }
        if !cqueue::more(flags) {
            push(ring, &receive(index, generation))?;
        }
        Ok(())
    }

    fn sent(
        &mut self,
        ring: &mut IoUring,
        buffers: &mut Buffers,
        data: u64,
        result: i32,
    ) -> io::Result<()> {
        let id = ((data >> 8) & 0xffff) as u16;
        let mut pending = self.sends[usize::from(id)];
        let Some(to) = self.side(pending.to, pending.generation) else {
            buffers.give(id);
            return Ok(());
        };
        match usize::try_from(result) {
            Ok(n) if pending.done + n < pending.len => {
                pending.done += n;
                let entry = send(to, buffers, id, pending.done, pending.len);
                self.sends[usize::from(id)] = pending;
                push(ring, &entry)
            }
            Ok(_) => {
                buffers.give(id);
                self.send_next(ring, buffers, pending.to)
            }
            Err(_) => {
                buffers.give(id);
                self.close(buffers, pending.to);
                Ok(())
            }
        }
    }

    /// Starts the send queued next for side `index`, if any.
    fn send_next(&mut self, ring: &mut IoUring, buffers: &Buffers, index: usize) -> io::Result<()> {
        let Some(to) = self.sides.get_mut(index).and_then(Option::as_mut) else {
            return Ok(());
        };
        let Some(id) = to.queued.pop_front() else {
            to.sending = false;
            return Ok(());
        };
        let pending = self.sends[usize::from(id)];
        push(ring, &send(to, buffers, id, pending.done, pending.len))
    }

    /// Closes both sides. `shutdown` first: a multishot receive holds the socket open, and
    /// the shutdown ends it (its last completion then finds no side and is dropped).
    /// Buffers queued for either side go back to the ring.
    fn close(&mut self, buffers: &mut Buffers, index: usize) {
        let Some(side) = self.sides.get_mut(index).and_then(Option::take) else {
            return;
        };
        let peer = self.sides.get_mut(side.peer).and_then(Option::take);
        for side in std::iter::once(side).chain(peer) {
            let _ = side.socket.shutdown(Shutdown::Both);
            side.queued.into_iter().for_each(|id| buffers.give(id));
        }
    }
}

fn receive(index: usize, generation: u32) -> squeue::Entry {
    opcode::RecvMulti::new(Fd(index as i32), GROUP)
        .build()
        .user_data((u64::from(generation) << 32) | ((index as u64) << 8) | RECV)
}

fn send(to: &Side, buffers: &Buffers, id: u16, from: usize, to_len: usize) -> squeue::Entry {
    // SAFETY (for the push): the bytes stay in `buffers` and the buffer is not offered to
    // the kernel again until this send completes.
    let start = buffers.address(id).wrapping_add(from);
    opcode::Send::new(Fd(to.socket.as_raw_fd()), start, (to_len - from) as u32)
        .flags(libc_msg_nosignal())
        .build()
        .user_data((u64::from(id) << 8) | SEND)
}

fn push(ring: &mut IoUring, entry: &squeue::Entry) -> io::Result<()> {
    loop {
        // SAFETY: every buffer an entry points to (provided buffers, the send's bytes)
        // outlives its operation, as `Buffers` and `Relay::sent` keep them.
        if unsafe { ring.submission().push(entry) }.is_ok() {
            return Ok(());
        }
        ring.submit()?;
    }
}

fn libc_enobufs() -> i32 {
    rustix::io::Errno::NOBUFS.raw_os_error()
}

fn libc_msg_nosignal() -> i32 {
    rustix::net::SendFlags::NOSIGNAL.bits() as i32
}
