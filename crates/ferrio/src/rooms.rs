//! Room bookkeeping of one namespace: which sockets are in which rooms, and which sockets a
//! broadcast selects. Plain data, no I/O.

use crate::adapter::{BroadcastOptions, Room, RoomEvent};
use ferrio_engine::{Sid, SidMap, SidSet};
use std::collections::{HashMap, HashSet};

/// Rooms to sockets and sockets to rooms.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    rooms: HashMap<Room, SidSet>,
    sids: SidMap<HashSet<Room>>,
}

impl Rooms {
    /// Puts `id` in `rooms`; the room events to report are appended to `events`.
    pub(crate) fn join(&mut self, id: Sid, rooms: Vec<Room>, events: &mut Vec<RoomEvent>) {
        for room in rooms {
            if !self.sids.entry(id).or_default().insert(room.clone()) {
                continue;
            }
            let members = self.rooms.entry(room.clone()).or_default();
            if members.is_empty() {
                events.push(RoomEvent::Create(room.clone()));
            }
            members.insert(id);
            events.push(RoomEvent::Join(room, id));
        }
    }

    /// Takes `id` out of `room`.
    pub(crate) fn leave(&mut self, id: Sid, room: &Room, events: &mut Vec<RoomEvent>) {
        let removed = self.sids.get_mut(&id).is_some_and(|s| s.remove(room));
        if !removed {
            return;
        }
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(&id);
            events.push(RoomEvent::Leave(room.clone(), id));
            if members.is_empty() {
                self.rooms.remove(room);
                events.push(RoomEvent::Delete(room.clone()));
            }
        }
    }

    /// Takes `id` out of every room.
    pub(crate) fn leave_all(&mut self, id: Sid, events: &mut Vec<RoomEvent>) {
        let rooms: Vec<Room> = self
            .sids
            .get(&id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for room in rooms {
            self.leave(id, &room, events);
        }
        self.sids.remove(&id);
    }

    /// The rooms of `id`, sorted.
    pub(crate) fn of(&self, id: Sid) -> Vec<Room> {
        let mut rooms: Vec<Room> = self
            .sids
            .get(&id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        rooms.sort();
        rooms
    }

    /// How many rooms have members, and how many sockets are in at least one room.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.rooms.len(), self.sids.len())
    }

    /// Every room with at least one member.
    pub(crate) fn all(&self) -> Vec<Room> {
        self.rooms.keys().cloned().collect()
    }

    /// The members of the rooms `opts` names (each once, in room order), minus the members of
    /// its `except` rooms; `None` when `opts.rooms` is empty (every socket, minus `except`,
    /// which [`excluded`](Self::excluded) gives).
    pub(crate) fn select(&self, opts: &BroadcastOptions) -> Option<Vec<Sid>> {
        if opts.rooms.is_empty() {
            return None;
        }
        let except = self.excluded(opts);
        if let [room] = opts.rooms.as_slice() {
            // One room: its members are distinct already.
            let members = self.rooms.get(room).into_iter().flatten();
            return Some(members.filter(|id| !except.contains(id)).copied().collect());
        }
        let mut seen = SidSet::default();
        let mut out = Vec::new();
        for room in &opts.rooms {
            for id in self.rooms.get(room).into_iter().flatten() {
                if !except.contains(id) && seen.insert(*id) {
                    out.push(*id);
                }
            }
        }
        Some(out)
    }

    /// The members of `opts.except`'s rooms.
    pub(crate) fn excluded(&self, opts: &BroadcastOptions) -> SidSet {
        if opts.except.is_empty() {
            return SidSet::default();
        }
        opts.except
            .iter()
            .filter_map(|room| self.rooms.get(room))
            .flatten()
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(s: &str) -> Room {
        Room::from(s)
    }

    fn opts(rooms: &[&str], except: &[&str]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms.iter().map(|r| room(r)).collect(),
            except: except.iter().map(|r| room(r)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn join_and_leave_report_the_reference_room_events() {
        let mut r = Rooms::default();
        let (a, b) = (Sid::new(), Sid::new());
        let mut ev = Vec::new();
        r.join(a, vec![room("x")], &mut ev);
        r.join(b, vec![room("x"), room("x")], &mut ev);
        assert_eq!(
            ev,
            vec![
                RoomEvent::Create(room("x")),
                RoomEvent::Join(room("x"), a),
                RoomEvent::Join(room("x"), b),
            ]
        );
        ev.clear();
        r.leave(a, &room("x"), &mut ev);
        r.leave(a, &room("x"), &mut ev);
        assert_eq!(ev, vec![RoomEvent::Leave(room("x"), a)]);
        ev.clear();
        r.leave_all(b, &mut ev);
        assert_eq!(
            ev,
            vec![RoomEvent::Leave(room("x"), b), RoomEvent::Delete(room("x"))]
        );
        assert!(r.all().is_empty());
        assert!(r.of(b).is_empty());
    }

    #[test]
    fn select_is_the_union_of_rooms_minus_except_each_socket_once() {
        let mut r = Rooms::default();
        let (a, b, c) = (Sid::new(), Sid::new(), Sid::new());
        let mut ev = Vec::new();
        r.join(a, vec![room("r1"), room("r2")], &mut ev);
        r.join(b, vec![room("r2"), room("banned")], &mut ev);
        r.join(c, vec![room("r3")], &mut ev);
        let mut got = r.select(&opts(&["r1", "r2"], &[])).unwrap();
        got.sort();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(got, want);
        assert_eq!(
            r.select(&opts(&["r1", "r2"], &["banned"])).unwrap(),
            vec![a]
        );
        assert_eq!(r.select(&opts(&["nope"], &[])).unwrap(), Vec::<Sid>::new());
        assert!(r.select(&opts(&[], &["banned"])).is_none());
        assert_eq!(r.excluded(&opts(&[], &["banned"])), SidSet::from_iter([b]));
    }

    #[test]
    fn rooms_of_a_socket_are_sorted() {
        let mut r = Rooms::default();
        let a = Sid::new();
        r.join(a, vec![room("b"), room("a"), room("c")], &mut Vec::new());
        assert_eq!(r.of(a), vec![room("a"), room("b"), room("c")]);
    }
}
