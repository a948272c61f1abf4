namespace PDiff.Torch;

public static partial class torch
{
    public static partial class nn
    {
        /// <summary>Stateless neural-network ops, as torch.nn.functional; modules in PDiff.Nn call these.</summary>
        public static class functional
        {
            static IntPtr H(Tensor? t) => t?.Handle ?? IntPtr.Zero;

            public static Tensor linear(Tensor x, Tensor w, Tensor? b = null) => Tensor.Check(Native.pd_linear(x.Handle, w.Handle, H(b)), "linear", x, w, b);

            public static Tensor conv1d(Tensor x, Tensor w, Tensor? b = null, long stride = 1, long padding = 0, long dilation = 1, long groups = 1) =>
                Tensor.Check(Native.pd_conv1d(x.Handle, w.Handle, H(b), stride, padding, dilation, groups), "conv1d", x, w, b);

            public static unsafe Tensor conv2d(Tensor x, Tensor w, Tensor? b = null, long stride = 1, long padding = 0, long dilation = 1, long groups = 1)
            {
                long* s = stackalloc long[] { stride, stride };
                long* p = stackalloc long[] { padding, padding };
                long* d = stackalloc long[] { dilation, dilation };
                return Tensor.Check(Native.pd_conv2d(x.Handle, w.Handle, H(b), s, p, d, groups), "conv2d", x, w, b);
            }

            /// <summary>Transposed 1-D convolution; the weight is [in, out/groups, k] as in PyTorch.</summary>
            public static Tensor conv_transpose1d(Tensor x, Tensor w, Tensor? b = null, long stride = 1, long padding = 0, long outputPadding = 0, long groups = 1, long dilation = 1) =>
                Tensor.Check(Native.pd_conv_transpose1d(x.Handle, w.Handle, H(b), stride, padding, outputPadding, groups, dilation), "conv_transpose1d", x, w, b);

            public static Tensor max_pool1d(Tensor x, long kernel, long? stride = null, long padding = 0) =>
                Tensor.Check(Native.pd_max_pool1d(x.Handle, kernel, stride ?? kernel, padding), "max_pool1d", x);
            public static Tensor avg_pool1d(Tensor x, long kernel, long? stride = null, long padding = 0) =>
                Tensor.Check(Native.pd_avg_pool1d(x.Handle, kernel, stride ?? kernel, padding), "avg_pool1d", x);

            public static unsafe Tensor max_pool2d(Tensor x, long kernel, long? stride = null, long padding = 0)
            {
                long* k = stackalloc long[] { kernel, kernel };
                long* s = stackalloc long[] { stride ?? kernel, stride ?? kernel };
                long* p = stackalloc long[] { padding, padding };
                return Tensor.Check(Native.pd_max_pool2d(x.Handle, k, s, p), "max_pool2d", x);
            }

            public static unsafe Tensor avg_pool2d(Tensor x, long kernel, long? stride = null, long padding = 0)
            {
                long* k = stackalloc long[] { kernel, kernel };
                long* s = stackalloc long[] { stride ?? kernel, stride ?? kernel };
                long* p = stackalloc long[] { padding, padding };
                return Tensor.Check(Native.pd_avg_pool2d(x.Handle, k, s, p), "avg_pool2d", x);
            }

            public static Tensor adaptive_avg_pool1d(Tensor x, long output) => Tensor.Check(Native.pd_adaptive_avg_pool1d(x.Handle, output), "adaptive_avg_pool1d", x);

            public static unsafe Tensor adaptive_avg_pool2d(Tensor x, long outH, long outW)
            {
                long* o = stackalloc long[] { outH, outW };
                return Tensor.Check(Native.pd_adaptive_avg_pool2d(x.Handle, o), "adaptive_avg_pool2d", x);
            }

            /// <summary>
            /// Batch norm with PyTorch's semantics: in training, normalise with the biased batch variance and
            /// update the running statistics in place (momentum, unbiased variance); in eval, use them.
            /// </summary>
            public static Tensor batch_norm(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight = null, Tensor? bias = null,
                bool training = false, double momentum = 0.1, double eps = 1e-5) =>
                Tensor.Check(Native.pd_batch_norm(x.Handle, H(weight), H(bias), H(runningMean), H(runningVar), training ? 1 : 0, momentum, eps), "batch_norm", x, weight, runningMean);

            /// <summary>Instance norm: each (sample, channel) row normalised over its length, biased variance.</summary>
            public static Tensor instance_norm(Tensor x, Tensor? runningMean = null, Tensor? runningVar = null, Tensor? weight = null, Tensor? bias = null,
                bool useInputStats = true, double momentum = 0.1, double eps = 1e-5) =>
                Tensor.Check(Native.pd_instance_norm(x.Handle, H(weight), H(bias), H(runningMean), H(runningVar), useInputStats ? 1 : 0, momentum, eps), "instance_norm", x, weight);

            public static Tensor group_norm(Tensor x, long groups, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5) =>
                Tensor.Check(Native.pd_group_norm(x.Handle, groups, H(weight), H(bias), eps), "group_norm", x, weight);

            public static unsafe Tensor layer_norm(Tensor x, long[] normalizedShape, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
            {
                fixed (long* p = normalizedShape)
                    return Tensor.Check(Native.pd_layer_norm(x.Handle, p, normalizedShape.Length, H(weight), H(bias), eps), "layer_norm", x, weight);
            }

            public static Tensor relu(Tensor x) => x.relu();
            public static Tensor leaky_relu(Tensor x, double slope = 0.01) => Tensor.Check(Native.pd_leaky_relu(x.Handle, slope), "leaky_relu", x);
            public static Tensor elu(Tensor x, double alpha = 1.0) => Tensor.Check(Native.pd_elu(x.Handle, alpha), "elu", x);
            public static Tensor gelu(Tensor x, bool tanhApproximation = false) => Tensor.Check(Native.pd_gelu(x.Handle, tanhApproximation ? 1 : 0), "gelu", x);
            public static Tensor silu(Tensor x) => Tensor.Check(Native.pd_silu(x.Handle), "silu", x);
            public static Tensor tanh(Tensor x) => x.tanh();
            public static Tensor sigmoid(Tensor x) => x.sigmoid();
            public static Tensor softmax(Tensor x, long dim) => x.softmax(dim);
            public static Tensor log_softmax(Tensor x, long dim) => x.log_softmax(dim);

            /// <summary>Cross-entropy of logits [N, C] against int64 class indices [N].</summary>
            public static Tensor cross_entropy(Tensor logits, Tensor target, Reduction reduction = Reduction.Mean, double labelSmoothing = 0) =>
                Tensor.Check(Native.pd_cross_entropy(logits.Handle, target.Handle, (int)reduction, labelSmoothing), "cross_entropy", logits, target);
            public static Tensor nll_loss(Tensor logProbs, Tensor target, Reduction reduction = Reduction.Mean) =>
                Tensor.Check(Native.pd_nll_loss(logProbs.Handle, target.Handle, (int)reduction), "nll_loss", logProbs, target);
            public static Tensor mse_loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean) =>
                Tensor.Check(Native.pd_mse_loss(input.Handle, target.Handle, (int)reduction), "mse_loss", input, target);

            /// <summary>Zeroes elements with probability p from an explicit generator, scaling the rest by 1/(1−p).</summary>
            public static Tensor dropout(Tensor x, double p, bool training, Generator g)
            {
                if (p < 0 || p > 1) throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout probability must be in [0, 1].");
                if (!training || p == 0) return x.alias();
                if (p == 1) return x.mul(0.0);
                using var mask = torch.bernoulli(x, 1 - p, g);
                using var kept = x.mul(mask);
                return kept.div(1 - p);
            }

            public static Tensor embedding(Tensor indices, Tensor weight) => Tensor.Check(Native.pd_embedding(weight.Handle, indices.Handle), "embedding", weight, indices);

            /// <summary>softmax(q·kᵀ/√d)·v over the last two dims (what a small ViT needs).</summary>
            public static Tensor scaled_dot_product_attention(Tensor q, Tensor k, Tensor v)
            {
                var d = q.size(-1);
                using var kt = k.transpose(-2, -1);
                using var scores = q.matmul(kt);
                using var scaled = scores.mul(1.0 / Math.Sqrt(d));
                using var attn = scaled.softmax(-1);
                return attn.matmul(v);
            }

            public static unsafe Tensor pad(Tensor x, long[] pad, double value = 0)
            {
                fixed (long* p = pad) return Tensor.Check(Native.pd_pad(x.Handle, p, pad.Length, value), "pad", x);
            }
        }
    }
}
