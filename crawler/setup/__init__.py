"""What a run is set up from: settings parsed and checked before anything starts, where every
output file lives, the code's fingerprint, the generated settings page."""
