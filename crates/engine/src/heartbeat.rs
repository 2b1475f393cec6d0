//! The heartbeat rules as a timer table, with no clock of its own.
//!
//! The driver asks [`Heartbeat::poll_timeout`] when to wake up next, calls
//! [`Heartbeat::handle_timeout`] then, and feeds the pings and pongs it reads. Time is passed in,
//! so every rule is tested without sleeping.
//!
//! - v4: the server pings `ping_interval` after the handshake and `ping_interval` after each pong;
//!   the session times out when no pong comes `ping_timeout` after a ping. A client ping is an
//!   error ("invalid heartbeat direction").
//! - v3: the client pings and the server answers; the session times out `ping_interval +
//!   ping_timeout` after the last client ping. A client pong is an error.

use crate::packet::ProtocolVersion;
use std::time::{Duration, Instant};

/// What the driver must do when the heartbeat timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatAction {
    /// Send a ping packet (`2`).
    SendPing,
    /// Close the session with reason `ping timeout`.
    TimedOut,
}

/// A heartbeat packet came in the wrong direction for the protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid heartbeat direction")]
pub struct InvalidHeartbeat;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// v4: waiting to send the next ping.
    PingAt(Instant),
    /// v4: a ping is out; a pong must come before this.
    PongBefore(Instant),
    /// v3: the client must ping before this.
    ClientPingBefore(Instant),
}

/// The heartbeat of one session.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    state: State,
}

impl Heartbeat {
    /// Starts the heartbeat of a session opened at `now`.
    pub fn new(
        version: ProtocolVersion,
        interval: Duration,
        timeout: Duration,
        now: Instant,
    ) -> Self {
        let state = match version {
            ProtocolVersion::V3 => State::ClientPingBefore(now + interval + timeout),
            ProtocolVersion::V4 => State::PingAt(now + interval),
        };
        Heartbeat {
            interval,
            timeout,
            state,
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Instant {
        match self.state {
            State::PingAt(t) | State::PongBefore(t) | State::ClientPingBefore(t) => t,
        }
    }

    /// Advances the timers to `now`; `None` if nothing is due yet.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<HeartbeatAction> {
        match self.state {
            State::PingAt(t) if now >= t => {
                // The pong deadline counts from when the ping was due, so a late wake-up
                // does not stretch it, but the client always gets at least half of it.
                let deadline = (t + self.timeout).max(now + self.timeout / 2);
                self.state = State::PongBefore(deadline);
                Some(HeartbeatAction::SendPing)
            }
            State::PongBefore(t) | State::ClientPingBefore(t) if now >= t => {
                Some(HeartbeatAction::TimedOut)
            }
            _ => None,
        }
    }

    /// A pong arrived (v4).
    pub fn handle_pong(&mut self, now: Instant) -> Result<(), InvalidHeartbeat> {
        match self.state {
            State::ClientPingBefore(_) => Err(InvalidHeartbeat),
            State::PongBefore(_) => {
                self.state = State::PingAt(now + self.interval);
                Ok(())
            }
            // A pong nobody asked for (duplicate): harmless, as in the reference.
            State::PingAt(_) => Ok(()),
        }
    }

    /// A ping arrived from the client (v3); the driver answers with a pong.
    pub fn handle_ping(&mut self, now: Instant) -> Result<(), InvalidHeartbeat> {
        match self.state {
            State::ClientPingBefore(_) => {
                self.state = State::ClientPingBefore(now + self.interval + self.timeout);
                Ok(())
            }
            _ => Err(InvalidHeartbeat),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: Duration = Duration::from_millis(300);
    const T: Duration = Duration::from_millis(200);

    #[test]
    fn v4_first_ping_after_one_interval_not_at_open() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(ProtocolVersion::V4, I, T, t0);
        assert_eq!(hb.poll_timeout(), t0 + I);
        assert_eq!(hb.handle_timeout(t0), None);
        assert_eq!(hb.handle_timeout(t0 + I - Duration::from_millis(1)), None);
        assert_eq!(hb.handle_timeout(t0 + I), Some(HeartbeatAction::SendPing));
    }

    #[test]
    fn v4_pong_schedules_next_ping_one_interval_later() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(ProtocolVersion::V4, I, T, t0);
        hb.handle_timeout(t0 + I);
        assert_eq!(hb.poll_timeout(), t0 + I + T);
        let pong_at = t0 + I + Duration::from_millis(50);
        hb.handle_pong(pong_at).unwrap();
        assert_eq!(hb.poll_timeout(), pong_at + I);
        assert_eq!(
            hb.handle_timeout(pong_at + I),
            Some(HeartbeatAction::SendPing)
        );
    }

    #[test]
    fn v4_no_pong_times_out_after_ping_timeout() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(ProtocolVersion::V4, I, T, t0);
        hb.handle_timeout(t0 + I);
        assert_eq!(hb.handle_timeout(t0 + I + T / 2), None);
        assert_eq!(
            hb.handle_timeout(t0 + I + T),
            Some(HeartbeatAction::TimedOut)
        );
    }

    #[test]
    fn v4_pong_deadline_counts_from_the_due_ping_time() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(ProtocolVersion::V4, I, T, t0);
        // Woken 30 ms late: the deadline stays one timeout after the due time.
        hb.handle_timeout(t0 + I + Duration::from_millis(30));
        assert_eq!(hb.poll_timeout(), t0 + I + T);
        // Woken very late: the client still gets half the timeout.
        let mut hb = Heartbeat::new(ProtocolVersion::V4, I, T, t0);
        let late = t0 + I + T * 3;
        hb.handle_timeout(late);
        assert_eq!(hb.poll_timeout(), late + T / 2);
    }

    #[test]
    fn v4_client_ping_is_invalid() {
        let mut hb = Heartbeat::new(ProtocolVersion::V4, I, T, Instant::now());
        assert_eq!(hb.handle_ping(Instant::now()), Err(InvalidHeartbeat));
    }

    #[test]
    fn v3_client_pings_keep_the_session_alive() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(ProtocolVersion::V3, I, T, t0);
        assert_eq!(hb.poll_timeout(), t0 + I + T);
        let p = t0 + I;
        hb.handle_ping(p).unwrap();
        assert_eq!(hb.handle_timeout(t0 + I + T), None);
        assert_eq!(
            hb.handle_timeout(p + I + T),
            Some(HeartbeatAction::TimedOut)
        );
        assert_eq!(hb.handle_pong(p), Err(InvalidHeartbeat));
    }
}
