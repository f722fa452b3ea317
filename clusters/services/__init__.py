"""Services: functions that do things (HackSoft style). Views and tasks call these."""
