//! The transport upgrade handshake (`2probe` → `3probe` → `5`) as a state machine.
//!
//! A WebSocket that joins an existing polling session starts in [`Upgrade::AwaitingProbe`]. Each
//! packet read from it goes through [`Upgrade::handle`], which consumes the state and says what
//! to do. As in the reference, any packet other than a probe ping or the upgrade packet aborts
//! the upgrade (the new WebSocket is closed, the polling transport carries on).

use crate::packet::Packet;

/// Where an upgrade stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// The WebSocket is open; the client has not sent `2probe` yet.
    AwaitingProbe,
    /// `3probe` was sent and the pending poll was released; waiting for `5`.
    AwaitingUpgrade,
}

/// What the driver does after a packet of the upgrade phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeStep {
    /// Answer `3probe` on the WebSocket and send `6` (noop) to the pending poll; keep waiting.
    AnswerProbe(Upgrade),
    /// The upgrade is complete: move the session to the WebSocket.
    Complete,
}

/// A packet that has no place in an upgrade.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected packet during upgrade")]
pub struct UpgradeAborted;

impl Upgrade {
    /// Handles one packet read from the upgrading WebSocket.
    pub fn handle(self, packet: &Packet) -> Result<UpgradeStep, UpgradeAborted> {
        match packet {
            Packet::Ping(data) if data == "probe" => {
                Ok(UpgradeStep::AnswerProbe(Upgrade::AwaitingUpgrade))
            }
            // The reference accepts `5` even before a probe.
            Packet::Upgrade => Ok(UpgradeStep::Complete),
            _ => Err(UpgradeAborted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Str;

    #[test]
    fn probe_then_upgrade_completes() {
        let s = Upgrade::AwaitingProbe;
        let step = s.handle(&Packet::Ping(Str::from("probe"))).unwrap();
        assert_eq!(step, UpgradeStep::AnswerProbe(Upgrade::AwaitingUpgrade));
        let UpgradeStep::AnswerProbe(s) = step else {
            unreachable!()
        };
        assert_eq!(s.handle(&Packet::Upgrade), Ok(UpgradeStep::Complete));
    }

    #[test]
    fn other_packets_abort() {
        for p in [
            Packet::Ping(Str::from("")),
            Packet::Message(Str::from("x")),
            Packet::Close,
            Packet::Pong(Str::from("probe")),
        ] {
            assert_eq!(Upgrade::AwaitingProbe.handle(&p), Err(UpgradeAborted));
            assert_eq!(Upgrade::AwaitingUpgrade.handle(&p), Err(UpgradeAborted));
        }
    }
}
