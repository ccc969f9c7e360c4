#include "models/bert.hpp"

#include <cmath>
#include <string>
#include <utility>

#include "io/safetensors.hpp"
#include "tandem/error.hpp"

namespace tandem::models {

namespace {

// The task heads write the encoder's parameters under this prefix; BertModel writes none.
constexpr std::string_view kPrefix = "bert.";

std::string base_name(const ModelConfig& c, const std::string& rest) {
  return c.architecture == Architecture::BertEncoder ? rest : std::string(kPrefix) + rest;
}

}  // namespace

// One post-LN encoder layer: h = LN(x + attn(x)), y = LN(h + ffn(h)).
class Bert::Layer {
 public:
  Layer(ParameterSet& params, const ModelConfig& c, std::int64_t index)
      : query_(params, name(c, index, "attention.self.query"), c.hidden, c.hidden, WeightLayout::OutIn),
        key_(params, name(c, index, "attention.self.key"), c.hidden, c.hidden, WeightLayout::OutIn),
        value_(params, name(c, index, "attention.self.value"), c.hidden, c.hidden, WeightLayout::OutIn),
        attn_out_(params, name(c, index, "attention.output.dense"), c.hidden, c.hidden, WeightLayout::OutIn),
        attn_ln_(params, name(c, index, "attention.output.LayerNorm"), c.hidden, c.layer_norm_eps),
        inter_(params, name(c, index, "intermediate.dense"), c.hidden, c.intermediate, WeightLayout::OutIn),
        out_(params, name(c, index, "output.dense"), c.intermediate, c.hidden, WeightLayout::OutIn),
        out_ln_(params, name(c, index, "output.LayerNorm"), c.hidden, c.layer_norm_eps),
        attn_(c.heads, /*causal=*/false),
        gelu_(c.activation) {}

  // x (B, T, C), mask (B, T) or undefined -> (B, T, C).
  Tensor forward(OpKernels& ops, const Tensor& x, const Tensor& mask) {
    const Tensor q = query_.forward(ops, x), k = key_.forward(ops, x), v = value_.forward(ops, x);
    const Tensor a = attn_out_.forward(ops, attn_.forward(ops, q, k, v, mask));
    // Training-mode dropout (DropoutArgs, config.hidden_dropout) goes before each residual;
    // parity runs in eval mode.
    const Tensor h = attn_ln_.forward(ops, residual(ops, a, x));
    inter_pre_ = inter_.forward(ops, h);  // (B, T, I)
    Tensor g = Tensor::empty(inter_pre_.shape());
    ops.gelu(inter_pre_, g, gelu_);
    return out_ln_.forward(ops, residual(ops, out_.forward(ops, g), h));
  }

  // dy (B, T, C) -> d(loss)/dx (B, T, C).
  Tensor backward(OpKernels& ops, const Tensor& dy) {
    Tensor dr2 = Tensor::zeros(dy.shape());
    out_ln_.backward(ops, dy, dr2);
    const ResidualGrads r2 = residual_backward(ops, dr2);  // da: the FFN path, db: h
    Tensor dg = Tensor::zeros(inter_pre_.shape());
    out_.backward(ops, r2.da, dg);
    Tensor dpre = Tensor::zeros(inter_pre_.shape());
    ops.gelu_backward(inter_pre_, dg, dpre, gelu_);
    Tensor dh = r2.db;
    inter_.backward(ops, dpre, dh);

    Tensor dr1 = Tensor::zeros(dy.shape());
    attn_ln_.backward(ops, dh, dr1);
    const ResidualGrads r1 = residual_backward(ops, dr1);  // da: the attention path, db: x
    Tensor dattn = Tensor::zeros(dy.shape());
    attn_out_.backward(ops, r1.da, dattn);
    Tensor dq = Tensor::zeros(dy.shape()), dk = Tensor::zeros(dy.shape()), dv = Tensor::zeros(dy.shape());
    attn_.backward(ops, dattn, dq, dk, dv);
    Tensor dx = r1.db;
    query_.backward(ops, dq, dx);
    key_.backward(ops, dk, dx);
    value_.backward(ops, dv, dx);
    return dx;
  }

  void append_linears(std::vector<Linear*>& out) {
    out.insert(out.end(), {&query_, &key_, &value_, &attn_out_, &inter_, &out_});
  }

 private:
  static std::string name(const ModelConfig& c, std::int64_t index, const char* module) {
    return base_name(c, "encoder.layer." + std::to_string(index) + "." + module);
  }

  Linear query_, key_, value_, attn_out_;
  LayerNorm attn_ln_;
  Linear inter_, out_;
  LayerNorm out_ln_;
  Attention attn_;
  GeluKind gelu_;
  Tensor inter_pre_;  // saved: the intermediate projection before GELU (B, T, I)
};

// [CLS] hidden state -> dense -> tanh -> classifier. The op set has no tanh, so it runs on the
// host here; it touches only (B, C) values.
struct Bert::Pooler {
  Pooler(ParameterSet& params, const ModelConfig& c)
      : dense(params, base_name(c, "pooler.dense"), c.hidden, c.hidden, WeightLayout::OutIn),
        classifier(params, "classifier", c.hidden, c.num_labels, WeightLayout::OutIn) {}

  Linear dense, classifier;
  Tensor pooled;  // saved: tanh output (B, C)
};

// Masked-LM head: dense -> activation -> LayerNorm -> decoder tied to the word embeddings, plus
// its own output bias.
struct Bert::MlmHead {
  MlmHead(ParameterSet& params, const ModelConfig& c)
      : dense(params, "cls.predictions.transform.dense", c.hidden, c.hidden, WeightLayout::OutIn),
        ln(params, "cls.predictions.transform.LayerNorm", c.hidden, c.layer_norm_eps),
        bias(add_tracked(params, "cls.predictions.bias", Shape{c.vocab}, false)),
        gelu(c.activation) {}

  Linear dense;
  LayerNorm ln;
  TrackedParam bias;
  GeluKind gelu;
  Tensor pre, transformed;  // saved: dense output and LayerNorm output (B, T, C)
};

Bert::Bert(ModelConfig config) : config_(std::move(config)) {
  if (config_.model_type != "bert")
    throw Error("bert: config has model_type '" + config_.model_type + "', expected 'bert'");
  const ModelConfig& c = config_;
  word_ = add_tracked(params_, base_name(c, "embeddings.word_embeddings.weight"), Shape{c.vocab, c.hidden}, true);
  position_ =
      add_tracked(params_, base_name(c, "embeddings.position_embeddings.weight"), Shape{c.max_positions, c.hidden}, true);
  token_type_ =
      add_tracked(params_, base_name(c, "embeddings.token_type_embeddings.weight"), Shape{c.type_vocab, c.hidden}, true);
  embed_ln_ = std::make_unique<LayerNorm>(params_, base_name(c, "embeddings.LayerNorm"), c.hidden, c.layer_norm_eps);
  for (std::int64_t i = 0; i < c.layers; ++i) layers_.push_back(std::make_unique<Layer>(params_, c, i));
  if (c.architecture == Architecture::BertSequenceClassification) pooler_ = std::make_unique<Pooler>(params_, c);
  if (c.architecture == Architecture::BertMaskedLM) mlm_ = std::make_unique<MlmHead>(params_, c);
}

Bert::~Bert() = default;

void Bert::load(const io::SafetensorsReader& file) { params_.load(file, kPrefix); }

std::vector<Linear*> Bert::linears() {
  std::vector<Linear*> out;
  for (const auto& layer : layers_) layer->append_linears(out);
  if (pooler_) out.insert(out.end(), {&pooler_->dense, &pooler_->classifier});
  if (mlm_) out.push_back(&mlm_->dense);
  return out;
}

Tensor Bert::embed(OpKernels& ops, const data::Batch& batch) {
  const Shape bt{batch.ids.dim(0), batch.ids.dim(1)};
  token_types_ = batch.token_types.defined() ? batch.token_types : Tensor::zeros(bt, DType::I32);
  const Shape btc{bt[0], bt[1], config_.hidden};
  Tensor words = Tensor::empty(btc);  // word + position
  ops.embedding(batch.ids, word_.value, position_.value, words);
  Tensor types = Tensor::empty(btc);
  ops.embedding(token_types_, token_type_.value, Tensor(), types);
  return embed_ln_->forward(ops, residual(ops, words, types));
}

// The op needs dwte; with only the position table trainable the word share goes to a scratch
// tensor. Nothing runs below the LayerNorm when no embedding parameter is trainable.
void Bert::embed_backward(OpKernels& ops, const Tensor& dx) {
  Tensor dsum = Tensor::zeros(dx.shape());
  embed_ln_->backward(ops, dx, dsum);
  Tensor dposition = position_.grad_if_trainable();
  if (!word_.trainable() && !dposition.defined() && !token_type_.trainable()) return;
  const ResidualGrads g = residual_backward(ops, dsum);
  if (word_.trainable() || dposition.defined()) {
    Tensor dword = word_.trainable() ? word_.grad : Tensor::zeros(word_.value.shape());
    ops.embedding_backward(ids_, g.da, dword, dposition);
  }
  if (!token_type_.trainable()) return;
  Tensor no_positions;
  ops.embedding_backward(token_types_, g.db, token_type_.grad, no_positions);
}

Tensor Bert::classify(OpKernels& ops, const Tensor& hidden) {
  Tensor cls = Tensor::empty(Shape{hidden.dim(0), hidden.dim(2)});  // (B, C)
  ops.first_token_pool(hidden, cls);
  const Tensor dense = pooler_->dense.forward(ops, cls);
  Tensor pooled = Tensor::empty(dense.shape());
  ops.host("pooler_tanh", {dense}, {pooled}, [dense, pooled]() mutable {
    const float* z = dense.data<float>();
    float* y = pooled.data<float>();
    for (std::int64_t i = 0; i < pooled.numel(); ++i) y[i] = std::tanh(z[i]);
  });
  pooler_->pooled = pooled;
  return pooler_->classifier.forward(ops, pooled);
}

Tensor Bert::classify_backward(OpKernels& ops, const Tensor& dlogits) {
  const Tensor& pooled = pooler_->pooled;
  Tensor dpooled = Tensor::zeros(pooled.shape());
  pooler_->classifier.backward(ops, dlogits, dpooled);
  // tanh'(z) = 1 - tanh(z)², from the saved output.
  Tensor ddense = Tensor::empty(pooled.shape());
  ops.host("pooler_tanh_backward", {dpooled, pooled}, {ddense}, [dpooled, pooled, ddense]() mutable {
    const float* dy = dpooled.data<float>();
    const float* y = pooled.data<float>();
    float* dz = ddense.data<float>();
    for (std::int64_t i = 0; i < pooled.numel(); ++i) dz[i] = dy[i] * (1.0f - y[i] * y[i]);
  });
  Tensor dcls = Tensor::zeros(pooled.shape());
  pooler_->dense.backward(ops, ddense, dcls);
  Tensor dhidden = Tensor::zeros(hidden_.shape());
  ops.first_token_pool_backward(dcls, dhidden);
  return dhidden;
}

Tensor Bert::mlm(OpKernels& ops, const Tensor& hidden) {
  MlmHead& h = *mlm_;
  h.pre = h.dense.forward(ops, hidden);
  Tensor act = Tensor::empty(h.pre.shape());
  ops.gelu(h.pre, act, h.gelu);
  h.transformed = h.ln.forward(ops, act);
  const Shape btv{hidden.dim(0), hidden.dim(1), config_.vocab};
  Tensor scores = Tensor::empty(btv);
  ops.matmul(h.transformed, word_.value, scores, {.trans_b = true});
  Tensor logits = Tensor::empty(btv);
  ops.bias_add(scores, h.bias.value, logits);
  return logits;
}

Tensor Bert::mlm_backward(OpKernels& ops, const Tensor& dlogits) {
  MlmHead& h = *mlm_;
  if (h.bias.trainable()) ops.bias_backward(dlogits, h.bias.grad);
  Tensor dtransformed = Tensor::zeros(h.transformed.shape());
  Tensor dword = word_.grad_if_trainable();
  ops.matmul_backward(h.transformed, word_.value, dlogits, dtransformed, dword, {.trans_b = true});
  Tensor dact = Tensor::zeros(h.pre.shape());
  h.ln.backward(ops, dtransformed, dact);
  Tensor dpre = Tensor::zeros(h.pre.shape());
  ops.gelu_backward(h.pre, dact, dpre, h.gelu);
  Tensor dhidden = Tensor::zeros(hidden_.shape());
  h.dense.backward(ops, dpre, dhidden);
  return dhidden;
}

void Bert::forward_ops(const data::Batch& batch, OpKernels& ops) {
  ids_ = batch.ids;
  loss_ = Tensor();
  ops.set_scope({-1, Phase::Forward});
  Tensor x = embed(ops, batch);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    ops.set_scope({static_cast<int>(i), Phase::Forward});
    x = layers_[i]->forward(ops, x, batch.mask);
  }
  ops.set_scope({-1, Phase::Forward});
  hidden_ = x;
  if (pooler_) {
    logits_ = classify(ops, hidden_);
    targets_ = batch.labels;
  } else if (mlm_) {
    logits_ = mlm(ops, hidden_);
    targets_ = batch.targets.defined() ? batch.targets.reshape(Shape{batch.targets.numel()}) : Tensor();
  } else {
    logits_ = hidden_;
    targets_ = Tensor();
  }
  if (!targets_.defined()) return;
  // Rows (B, L) or (B·T, V) against (B) labels or (B·T) targets.
  const Tensor rows = logits_.reshape(Shape{targets_.numel(), logits_.dim(-1)});
  loss_ = Tensor::empty(Shape{1});
  lse_ = Tensor::empty(Shape{rows.dim(0)});
  ops.cross_entropy(rows, targets_, loss_, lse_, {});
}

void Bert::backward(OpKernels& ops) {
  if (!targets_.defined())
    throw Error(std::string("bert: backward() needs a forward() of ") + architecture_name(config_.architecture) +
                " whose batch has " + (mlm_ ? "targets" : "labels"));
  ops.set_scope({-1, Phase::Backward});
  const Tensor flat = logits_.reshape(Shape{targets_.numel(), logits_.dim(-1)});  // (N, L) or (B·T, V)
  Tensor dlogits = Tensor::zeros(flat.shape());
  ops.cross_entropy_backward(flat, targets_, lse_, 1.0f, dlogits, {});
  Tensor dx = pooler_ ? classify_backward(ops, dlogits) : mlm_backward(ops, dlogits.reshape(logits_.shape()));
  for (std::size_t i = layers_.size(); i-- > 0;) {
    ops.set_scope({static_cast<int>(i), Phase::Backward});
    dx = layers_[i]->backward(ops, dx);
  }
  ops.set_scope({-1, Phase::Backward});
  embed_backward(ops, dx);
}

}  // namespace tandem::models
