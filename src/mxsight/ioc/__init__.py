"""EPICS IOCs served by caproto: the simulated beamline as a real beamline's control system shows it."""
