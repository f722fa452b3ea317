"""The one error every adoption step raises."""


class AdoptionError(Exception):
    """The step cannot be taken; the message says why and what to do."""
