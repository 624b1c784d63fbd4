"""gateway-sim: a local simulator of the IntelliSoftware (IntelliSMS) SMS/MMS gateway."""

__version__ = "0.1.0"
