"""The RTMW3D head: two neck levels -> gated attention over keypoints -> x/y/z SimCC logits."""
import contextlib
from typing import Optional, Tuple

import torch
from mmcv.cnn import ConvModule
from mmengine.structures import InstanceData
from mmpose.models.heads import BaseHead
from mmpose.models.utils.rtmcc_block import RTMCCBlock, ScaleNorm
from mmpose.registry import KEYPOINT_CODECS, MODELS
from torch import Tensor, nn

DEFAULT_GAU = dict(hidden_dims=256, s=128, expansion_factor=2, dropout_rate=0., drop_path=0.,
                   act_fn='ReLU', use_rel_bias=False, pos_enc=False)


@contextlib.contextmanager
def onednn(enabled: bool):
    """oneDNN on or off for the CPU convolutions of the block, nothing else changed (torch's own
    ``mkldnn.flags`` also resets its TF32 and determinism flags, with a warning each time)."""
    saved = torch.backends.mkldnn.set_flags(_enabled=enabled, _fp32_precision=None)[0]
    try:
        yield
    finally:
        torch.backends.mkldnn.set_flags(_enabled=saved, _fp32_precision=None)


def simcc_maxima(x: Tensor, y: Tensor, z: Tensor):
    """Argmax per axis (N, K, 3) and min(max x, max y) (N, K) of the logits, reduced where the
    logits are (on a GPU: about 62 MiB of logits per batch of 64 crops stay there) and copied
    to numpy. The same values as numpy's argmax and max: both take the first of equal maxima."""
    x, y, z = (t.detach().float() for t in (x, y, z))
    locations = torch.stack([x.argmax(-1), y.argmax(-1), z.argmax(-1)], dim=-1)
    scores = torch.minimum(x.amax(-1), y.amax(-1))
    return locations.cpu().numpy(), scores.cpu().numpy()


@MODELS.register_module()
class RTMW3DHead(BaseHead):
    """SimCC head of RTMW3D, inference only.

    The coarse level (stride 32) is flattened per keypoint channel and embedded; it is also
    upsampled by pixel shuffle and joined with the finer level (stride 16), which is embedded
    the same way. The two embeddings are concatenated and mixed by a gated attention unit
    (RTMCCBlock), then three linear layers classify x, y and z.

    Module names follow the official model so its checkpoints load strictly.

    Args:
        in_channels: channels of the coarse level; the fine level has half as many.
        out_channels: number of keypoints.
        input_size: (w, h, d) of the model input.
        in_featuremap_size: (w, h, ...) of the coarse level (input_size // 32).
        simcc_split_ratio: bins per input pixel.
        final_layer_kernel_size: kernel of the per-keypoint convolutions.
        gau_cfg: settings of the gated attention unit.
        loss: accepted for config compatibility and ignored (no training here).
        decoder: the codec config (``SimCC3DLabel``).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 input_size: Tuple[int, int, int],
                 in_featuremap_size: Tuple[int, ...],
                 simcc_split_ratio: float = 2.0,
                 final_layer_kernel_size: int = 1,
                 gau_cfg: Optional[dict] = None,
                 loss=None,
                 decoder: Optional[dict] = None,
                 init_cfg=None):
        super().__init__(init_cfg)
        if isinstance(in_channels, (list, tuple)):
            raise ValueError('RTMW3DHead takes the channel count of the coarse level only')
        gau = dict(DEFAULT_GAU, **(gau_cfg or {}))
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.input_size = tuple(input_size)
        self.in_featuremap_size = tuple(in_featuremap_size)
        self.simcc_split_ratio = simcc_split_ratio
        self.decoder = KEYPOINT_CODECS.build(decoder) if decoder is not None else None

        shuffle = 2  # pixel-shuffle factor between the two neck levels
        coarse_pixels = self.in_featuremap_size[0] * self.in_featuremap_size[1]
        fine_pixels = coarse_pixels * shuffle**2
        k = final_layer_kernel_size

        def conv(cin, cout):
            return ConvModule(cin, cout, kernel_size=k, stride=1, padding=k // 2,
                              norm_cfg=dict(type='BN', requires_grad=True), act_cfg=dict(type='ReLU'))

        self.ps = nn.PixelShuffle(shuffle)
        self.conv_dec = conv(in_channels // shuffle**2, in_channels // 4)
        self.final_layer = conv(in_channels, out_channels)
        # the fine level (in_channels // 2) joined with the upsampled coarse one (in_channels // 4)
        self.final_layer2 = conv(in_channels // shuffle + in_channels // 4, out_channels)
        half = gau['hidden_dims'] // 2
        self.mlp = nn.Sequential(ScaleNorm(coarse_pixels), nn.Linear(coarse_pixels, half, bias=False))
        self.mlp2 = nn.Sequential(ScaleNorm(fine_pixels), nn.Linear(fine_pixels, half, bias=False))
        self.gau = RTMCCBlock(
            out_channels, gau['hidden_dims'], gau['hidden_dims'], s=gau['s'],
            expansion_factor=gau['expansion_factor'], dropout_rate=gau['dropout_rate'],
            drop_path=gau['drop_path'], attn_type='self-attn', act_fn=gau['act_fn'],
            use_rel_bias=gau['use_rel_bias'], pos_enc=gau['pos_enc'])
        bins = [int(size * simcc_split_ratio) for size in self.input_size]
        self.cls_x = nn.Linear(gau['hidden_dims'], bins[0], bias=False)
        self.cls_y = nn.Linear(gau['hidden_dims'], bins[1], bias=False)
        self.cls_z = nn.Linear(gau['hidden_dims'], bins[2], bias=False)

    def forward(self, feats: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """(fine, coarse) neck features -> logits (B, K, Wx), (B, K, Wy), (B, K, Wz)."""
        fine, coarse = feats
        # ScaleNorm divides each keypoint map by its norm, and after ReLU many maps are almost
        # zero, so the rounding error of these large 7x7 convolutions is magnified. On the CPU,
        # oneDNN's kernels round several times worse here than the im2col + BLAS path
        # (measured: 1e-4..1e-3 vs 2e-5 off a float64 evaluation), so they use the latter. Under
        # bf16 autocast that path is emulated (measured: 26x slower than fp32): oneDNN it is.
        exact_fp32 = coarse.device.type == 'cpu' and not torch.is_autocast_enabled('cpu')
        with onednn(enabled=not exact_fp32):
            coarse_maps = self.final_layer(coarse)
            upsampled = self.conv_dec(self.ps(coarse))
            fine_maps = self.final_layer2(torch.cat([upsampled, fine], dim=1))
        coarse_emb = self.mlp(torch.flatten(coarse_maps, 2))
        fine_emb = self.mlp2(torch.flatten(fine_maps, 2))
        tokens = self.gau(torch.cat([coarse_emb, fine_emb], dim=2))
        return self.cls_x(tokens), self.cls_y(tokens), self.cls_z(tokens)

    def decode(self, batch_outputs: Tuple[Tensor, Tensor, Tensor]) -> list:
        """Logits -> one InstanceData per sample with keypoints (1, K, 3) in crop units."""
        if self.decoder is None:
            raise RuntimeError('RTMW3DHead needs a decoder (the codec config) to predict')
        keypoints, keypoints_simcc, scores = self.decoder.decode_maxima(*simcc_maxima(*batch_outputs))
        return [
            InstanceData(keypoints=keypoints[i:i + 1], keypoints_simcc=keypoints_simcc[i:i + 1],
                         keypoint_scores=scores[i:i + 1]) for i in range(len(keypoints))
        ]

    def predict(self, feats, batch_data_samples, test_cfg: Optional[dict] = None) -> list:
        test_cfg = test_cfg or {}
        if test_cfg.get('flip_test', False):
            raise NotImplementedError('RTMW3DHead: flip_test is not supported (the official configs '
                                      'disable it)')
        if test_cfg.get('output_heatmaps', False):
            raise NotImplementedError('RTMW3DHead: output_heatmaps is not supported')
        return self.decode(self(feats))  # a module call, so that forward hooks run

    def loss(self, feats, batch_data_samples, train_cfg: Optional[dict] = None) -> dict:
        raise NotImplementedError('RTMW3DHead here is for inference only')
