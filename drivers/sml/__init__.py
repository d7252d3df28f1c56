"""SML (Smart Message Language) meters read through an optical head or a network IR reader.

German smart meters (eHZ, basic meters, mME) push SML frames every one to four seconds on their
optical INFO interface. ``frames`` finds the frames in the byte stream and checks their CRC,
``decode`` turns a frame into OBIS values (smllib does the SML layer), ``meter`` maps them onto the
model with the sign rules and the manufacturers' quirks, ``driver`` reads a serial port or a TCP
stream, and ``plugin`` registers the driver (profile ``sml``).
"""
