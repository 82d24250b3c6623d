// Timers, driven by the caller's clock: keepalives from a speaker every third
// of the hold time, the hold timer on a listener, delete-hold-down after a
// lost connection and reconciliation after a reconnect.

import TaglineCore

extension SXPConnection {
    /// Seconds a new TCP connection may stay without OPEN or OPEN_RESP.
    /// NOTE: the draft names no value; 120 s matches the default hold-down.
    public static let openTimeout: Double = 120

    /// Seconds between keepalives from a speaker: a third of the hold time.
    public var keepaliveInterval: Double? {
        guard state == .on, settings.mode == .speaker, holdTime > 0 else { return nil }
        return Double(holdTime) / 3
    }

    /// The earliest time at which `expire` has something to do, or nil.
    public var nextDeadline: Double? {
        var deadlines = [Double]()
        if let keepaliveInterval { deadlines.append(lastKeepaliveSent + keepaliveInterval) }
        if holdTimerRunning { deadlines.append(lastReceived + Double(holdTime)) }
        if state == .pendingOn { deadlines.append(lastReceived + Self.openTimeout) }
        if state != .on, let holdDownDeadline { deadlines.append(holdDownDeadline) }
        if state == .on, let reconciliationDeadline { deadlines.append(reconciliationDeadline) }
        return deadlines.min()
    }

    /// Runs every timer that is due at `now`.
    public mutating func expire(now: Double) -> [SXPConnectionAction] {
        var actions = [SXPConnectionAction]()

        if let keepaliveInterval, now >= lastKeepaliveSent + keepaliveInterval {
            lastKeepaliveSent = now
            actions.append(.send(.keepalive))
        }

        if holdTimerRunning, now >= lastReceived + Double(holdTime) {
            actions.append(.close(reason: "hold timer expired after \(holdTime) s"))
            actions += disconnected(now: now)
        }

        if state == .pendingOn, now >= lastReceived + Self.openTimeout {
            actions.append(.close(reason: "no OPEN exchange within \(Int(Self.openTimeout)) s"))
            actions += disconnected(now: now)
        }

        if state == .on, let deadline = reconciliationDeadline, now >= deadline {
            reconciliationDeadline = nil
            let removed = Array(stale)
            stale.removeAll()
            for prefix in removed { learned[prefix] = nil }
            if !removed.isEmpty { actions.append(.forget(removed)) }
        }

        // The hold-down also ends while a new connection is still pending.
        if state != .on, let deadline = holdDownDeadline, now >= deadline {
            holdDownDeadline = nil
            let removed = Array(learned.keys)
            learned.removeAll()
            stale.removeAll()
            if state == .deleteHoldDown { enter(.off, now: now) }
            if !removed.isEmpty { actions.append(.forget(removed)) }
        }
        return actions
    }
}
