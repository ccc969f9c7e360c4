#include "models/gpt2.hpp"

#include <string>
#include <utility>

#include "io/safetensors.hpp"
#include "tandem/error.hpp"

namespace tandem::models {

namespace {
// GPT2LMHeadModel writes the base model's parameters under this prefix.
constexpr std::string_view kPrefix = "transformer.";
}  // namespace

// One pre-LN transformer block: x + attn(ln_1(x)), then + mlp(ln_2(·)).
class Gpt2::Block {
 public:
  Block(ParameterSet& params, const ModelConfig& c, std::int64_t index)
      : ln_1_(params, name(index, "ln_1"), c.hidden, c.layer_norm_eps),
        c_attn_(params, name(index, "attn.c_attn"), c.hidden, 3 * c.hidden, WeightLayout::InOut),
        attn_proj_(params, name(index, "attn.c_proj"), c.hidden, c.hidden, WeightLayout::InOut),
        ln_2_(params, name(index, "ln_2"), c.hidden, c.layer_norm_eps),
        c_fc_(params, name(index, "mlp.c_fc"), c.hidden, c.intermediate, WeightLayout::InOut),
        mlp_proj_(params, name(index, "mlp.c_proj"), c.intermediate, c.hidden, WeightLayout::InOut),
        attn_(c.heads, /*causal=*/true),
        gelu_(c.activation) {}

  // x (B, T, C) -> (B, T, C).
  Tensor forward(OpKernels& ops, const Tensor& x, const Tensor& mask) {
    const Qkv qkv = split_qkv(ops, c_attn_.forward(ops, ln_1_.forward(ops, x)));  // each (B, T, C)
    const Tensor a = attn_proj_.forward(ops, attn_.forward(ops, qkv.q, qkv.k, qkv.v, mask));
    // Training-mode dropout (DropoutArgs, config.attention_dropout on the attention weights
    // and config.hidden_dropout here and after the MLP) goes here; parity runs in eval mode.
    x2_ = residual(ops, x, a);
    fc_ = c_fc_.forward(ops, ln_2_.forward(ops, x2_));  // (B, T, 4C)
    Tensor g = Tensor::empty(fc_.shape());
    ops.gelu(fc_, g, gelu_);
    return residual(ops, x2_, mlp_proj_.forward(ops, g));
  }

  // dy (B, T, C) -> d(loss)/dx (B, T, C).
  Tensor backward(OpKernels& ops, const Tensor& dy) {
    const ResidualGrads out = residual_backward(ops, dy);  // da: the x2 path, db: the MLP path
    Tensor dx2 = out.da;
    Tensor dg = Tensor::zeros(fc_.shape());
    mlp_proj_.backward(ops, out.db, dg);
    Tensor dfc = Tensor::zeros(fc_.shape());
    ops.gelu_backward(fc_, dg, dfc, gelu_);
    Tensor dh2 = Tensor::zeros(dy.shape());
    c_fc_.backward(ops, dfc, dh2);
    ln_2_.backward(ops, dh2, dx2);

    const ResidualGrads mid = residual_backward(ops, dx2);  // da: the x path, db: the attention path
    Tensor dattn = Tensor::zeros(dy.shape());
    attn_proj_.backward(ops, mid.db, dattn);
    Qkv dqkv{Tensor::zeros(dy.shape()), Tensor::zeros(dy.shape()), Tensor::zeros(dy.shape())};
    attn_.backward(ops, dattn, dqkv.q, dqkv.k, dqkv.v);
    Tensor dh1 = Tensor::zeros(dy.shape());
    c_attn_.backward(ops, join_qkv(ops, dqkv), dh1);
    Tensor dx = mid.da;
    ln_1_.backward(ops, dh1, dx);
    return dx;
  }

  void append_linears(std::vector<Linear*>& out) {
    out.insert(out.end(), {&c_attn_, &attn_proj_, &c_fc_, &mlp_proj_});
  }

 private:
  static std::string name(std::int64_t index, const char* module) {
    return std::string(kPrefix) + "h." + std::to_string(index) + "." + module;
  }

  LayerNorm ln_1_;
  Linear c_attn_, attn_proj_;
  LayerNorm ln_2_;
  Linear c_fc_, mlp_proj_;
  Attention attn_;
  GeluKind gelu_;
  Tensor x2_, fc_;  // saved: after the attention residual (B, T, C), before GELU (B, T, 4C)
};

Gpt2::Gpt2(ModelConfig config) : config_(std::move(config)) {
  if (config_.model_type != "gpt2")
    throw Error("gpt2: config has model_type '" + config_.model_type + "', expected 'gpt2'");
  const std::string p(kPrefix);
  wte_ = add_tracked(params_, p + "wte.weight", Shape{config_.vocab, config_.hidden}, true);
  wpe_ = add_tracked(params_, p + "wpe.weight", Shape{config_.max_positions, config_.hidden}, true);
  for (std::int64_t i = 0; i < config_.layers; ++i) blocks_.push_back(std::make_unique<Block>(params_, config_, i));
  ln_f_ = std::make_unique<LayerNorm>(params_, p + "ln_f", config_.hidden, config_.layer_norm_eps);
}

Gpt2::~Gpt2() = default;

void Gpt2::load(const io::SafetensorsReader& file) { params_.load(file, kPrefix); }

std::vector<Linear*> Gpt2::linears() {
  std::vector<Linear*> out;
  for (const auto& block : blocks_) block->append_linears(out);
  return out;
}

void Gpt2::forward_ops(const data::Batch& batch, OpKernels& ops) {
  ids_ = batch.ids;
  targets_ = batch.targets;
  loss_ = Tensor();
  ops.set_scope({-1, Phase::Forward});
  Tensor x = Tensor::empty(Shape{ids_.dim(0), ids_.dim(1), config_.hidden});  // (B, T, C)
  ops.embedding(ids_, wte_.value, wpe_.value, x);
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    ops.set_scope({static_cast<int>(i), Phase::Forward});
    x = blocks_[i]->forward(ops, x, batch.mask);
  }
  ops.set_scope({-1, Phase::Forward});
  final_ = ln_f_->forward(ops, x);
  // The LM head is the token embedding transposed: logits (B, T, V) = final · wteᵀ.
  logits_ = Tensor::empty(Shape{ids_.dim(0), ids_.dim(1), config_.vocab});
  ops.matmul(final_, wte_.value, logits_, {.trans_b = true});
  if (!targets_.defined()) return;
  const std::int64_t n = ids_.numel();
  loss_ = Tensor::empty(Shape{1});
  lse_ = Tensor::empty(Shape{n});
  ops.cross_entropy(logits_.reshape(Shape{n, config_.vocab}), targets_.reshape(Shape{n}), loss_, lse_, {});
}

void Gpt2::backward(OpKernels& ops) {
  if (!targets_.defined()) throw Error("gpt2: backward() needs a forward() whose batch has targets");
  ops.set_scope({-1, Phase::Backward});
  const std::int64_t n = ids_.numel();
  const Tensor flat_logits = logits_.reshape(Shape{n, config_.vocab});
  Tensor dlogits = Tensor::zeros(flat_logits.shape());  // (B·T, V)
  ops.cross_entropy_backward(flat_logits, targets_.reshape(Shape{n}), lse_, 1.0f, dlogits, {});
  Tensor dfinal = Tensor::zeros(final_.shape());
  Tensor dwte = wte_.grad_if_trainable();
  ops.matmul_backward(final_, wte_.value, dlogits.reshape(logits_.shape()), dfinal, dwte, {.trans_b = true});
  Tensor dx = Tensor::zeros(final_.shape());
  ln_f_->backward(ops, dfinal, dx);
  for (std::size_t i = blocks_.size(); i-- > 0;) {
    ops.set_scope({static_cast<int>(i), Phase::Backward});
    dx = blocks_[i]->backward(ops, dx);
  }
  ops.set_scope({-1, Phase::Backward});
  embedding_backward(ops, dx);
}

// The op needs dwte; with only wpe trainable its token-embedding share goes to a scratch tensor.
void Gpt2::embedding_backward(OpKernels& ops, const Tensor& dx) {
  Tensor dwpe = wpe_.grad_if_trainable();
  if (!wte_.trainable() && !dwpe.defined()) return;
  Tensor dwte = wte_.trainable() ? wte_.grad : Tensor::zeros(wte_.value.shape());
  ops.embedding_backward(ids_, dx, dwte, dwpe);
}

}  // namespace tandem::models
