"""semradio.blocks: the block library (sources, channel, equalizer, codecs, denoisers, sinks)."""
