package msgq

// RaceEnabled tells the external tests that allocation counts mean nothing.
const RaceEnabled = raceEnabled
