"""Measurement sinks: image metrics (PSNR, SSIM, MS-SSIM, LPIPS, latency) and the channel
meter (measured SNR/SINR, EVM)."""

from .channel_meter import ChannelMeter
from .metric_sink import MetricSink

__all__ = ["ChannelMeter", "MetricSink"]
