//! Neural-network and numeric op kernels (pools, normalisations, activations, losses,
//! cumulative ops, rearrangements, ...), reached through one [`dispatch`] call from the
//! main op table.

pub(crate) mod activation;
pub(crate) mod attention;
pub(crate) mod attrs;
pub(crate) mod axis;
pub(crate) mod channel_norm;
pub(crate) mod col2im;
pub(crate) mod conv;
pub(crate) mod cumulative;
pub(crate) mod detection;
pub(crate) mod einsum;
pub(crate) mod flex_attention;
pub(crate) mod linear_attention;
pub(crate) mod loss;
pub(crate) mod matrix;
pub(crate) mod optimizer;
pub(crate) mod pool;
pub(crate) mod rearrange;
pub(crate) mod resize;
pub(crate) mod rnn;
pub(crate) mod roi;
pub(crate) mod rotary;
pub(crate) mod sample;
pub(crate) mod signal;

use crate::arr::Arr;
use crate::call::Call;
use crate::error::OpResult;

fn one(a: OpResult<Arr>) -> OpResult<Vec<Arr>> {
    a.map(|a| vec![a])
}

/// Runs `op` if it is one of this module's `ai.onnx` ops; `None` otherwise.
pub(crate) fn dispatch(op: &str, c: &Call<'_>) -> Option<OpResult<Vec<Arr>>> {
    Some(match op {
        "Elu" | "Selu" | "Celu" | "HardSigmoid" | "HardSwish" | "ThresholdedRelu" | "Softsign"
        | "Mish" | "Shrink" | "Swish" | "Acos" | "Asin" | "Atan" | "Acosh" | "Asinh" | "Atanh"
        | "Sinh" | "Cosh" => one(activation::unary(op, c)),
        "PRelu" => one(activation::prelu(c)),
        "IsNaN" => one(activation::float_class(c, false)),
        "IsInf" => one(activation::float_class(c, true)),
        "Hardmax" => one(activation::hardmax(c)),
        "MaxPool" => pool::max_pool(c),
        "AveragePool" => one(pool::avg_lp_pool(c, false)),
        "LpPool" => one(pool::avg_lp_pool(c, true)),
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => one(pool::global_pool(c, op)),
        "MaxUnpool" => one(pool::max_unpool(c)),
        "BatchNormalization" => channel_norm::batch_norm(c),
        "InstanceNormalization" => one(channel_norm::instance_norm(c)),
        "GroupNormalization" => one(channel_norm::group_norm(c)),
        "LpNormalization" => one(channel_norm::lp_norm(c)),
        "MeanVarianceNormalization" => one(channel_norm::mvn(c)),
        "LRN" => one(channel_norm::lrn(c)),
        "ReduceL1" | "ReduceL2" | "ReduceLogSum" | "ReduceLogSumExp" => {
            one(super::reduce::reduce(c, op))
        }
        "CumSum" => one(cumulative::cumulative(c, false)),
        "CumProd" => one(cumulative::cumulative(c, true)),
        "Trilu" => one(rearrange::trilu(c)),
        "DepthToSpace" => one(rearrange::depth_to_space(c)),
        "SpaceToDepth" => one(rearrange::space_to_depth(c)),
        "CenterCropPad" => one(rearrange::center_crop_pad(c)),
        "EyeLike" => one(matrix::eye_like(c)),
        "NegativeLogLikelihoodLoss" => one(loss::nll_loss(c)),
        "SoftmaxCrossEntropyLoss" => loss::softmax_cross_entropy(c),
        "Conv" => one(conv::conv(c)),
        "ConvTranspose" => one(conv::conv_transpose(c)),
        "Col2Im" => one(col2im::col2im(c)),
        "DeformConv" => one(conv::deform_conv(c)),
        "Attention" => attention::attention(c),
        "RotaryEmbedding" => one(rotary::rotary_embedding(c)),
        "Einsum" => one(einsum::einsum(c)),
        "Resize" => one(resize::resize(c)),
        "Upsample" => one(resize::upsample(c)),
        "RNN" => rnn::recurrent(c, rnn::Cell::Rnn),
        "GRU" => rnn::recurrent(c, rnn::Cell::Gru),
        "LSTM" => rnn::recurrent(c, rnn::Cell::Lstm),
        "Det" => one(matrix::det(c)),
        "RoiAlign" => one(roi::roi_align(c)),
        "NonMaxSuppression" => one(detection::non_max_suppression(c)),
        "SwiGLU" => one(activation::swiglu(c)),
        "CausalConvWithState" => conv::causal_conv_with_state(c),
        "LinearAttention" => linear_attention::linear_attention(c),
        "GridSample" => one(sample::grid_sample(c)),
        "AffineGrid" => one(sample::affine_grid(c)),
        "DFT" => one(signal::dft(c)),
        "STFT" => one(signal::stft(c)),
        "HannWindow" | "HammingWindow" | "BlackmanWindow" => one(signal::window(c, op)),
        "MelWeightMatrix" => one(signal::mel_weight_matrix(c)),
        _ => return None,
    })
}

/// Runs an op of the `ai.onnx.preview.training` domain (the optimizers); `None` for others.
pub(crate) fn dispatch_training(op: &str, c: &Call<'_>) -> Option<OpResult<Vec<Arr>>> {
    match op {
        "Adagrad" | "Adam" | "Momentum" => Some(optimizer::optimizer(c, op)),
        _ => None,
    }
}
