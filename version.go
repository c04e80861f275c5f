package herald

// Version is Herald's release, sent as User-Agent: Herald/<Version> on every delivery.
const Version = "0.1.0"
