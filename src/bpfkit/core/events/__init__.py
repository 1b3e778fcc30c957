"""Floor 4: readers of the events BPF programs send.

epoll.py is what every reader shares (waiting, iteration, asyncio); ringbuf.py
and perfbuf.py each know one ring protocol and nothing else: decoding comes
compiled from the codecs floor. Imports the floors below only.
"""
