// `tandem corpus`: English-like text from small grammars written for this project, so the demo
// needs no third-party text. Two domains share English spelling and function words but differ
// in vocabulary and sentence shapes: "a" (village tales) is what the example checkpoint is
// pre-trained on, "b" (kitchen recipes) is what the demo fine-tunes it on.
//
// Output is plain text: paragraphs of 3 to 6 sentences separated by blank lines (documents, in
// the terms of the .txt dataset format). The same --kind, --paragraphs and --seed always give
// the same bytes: choices come from std::mt19937_64's raw output, not a std distribution.
#include <cctype>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "io/atomic_file.hpp"
#include "tandem/error.hpp"

namespace tandem::cli {
namespace {

// Symbol -> alternatives; "{name}" in an alternative expands that symbol.
using Grammar = std::map<std::string, std::vector<std::string>, std::less<>>;

Grammar tales_grammar() {
  return {
      {"sentence",
       {"the {adj} {animal} {went} {prep} the {place}.", "{name} saw a {adj} {animal} near the {place}.",
        "in the {time}, {name} {went} {prep} the {place} with a {thing}.",
        "the {animal} was {feeling} because the {place} was {weather}.",
        "{name} gave the {thing} to the {animal}, and the {animal} {went} away.",
        "when the {time} came, the {animal} {went} back to the {place}.",
        "{name} and {name} found a {adj} {thing} by the {place}.",
        "\"where is my {thing}?\" asked {name}, and the {animal} looked {feeling}."}},
      {"adj", {"old", "small", "brown", "quiet", "clever", "tired", "young", "grey", "bright", "lazy"}},
      {"animal", {"fox", "rabbit", "owl", "goat", "dog", "cat", "horse", "crow", "mouse", "bear"}},
      {"went", {"walked", "ran", "hurried", "wandered", "jumped", "crept", "flew", "rolled"}},
      {"prep", {"to", "across", "around", "through", "past", "toward"}},
      {"place", {"river", "village", "forest", "hill", "garden", "bridge", "field", "well", "mill", "market"}},
      {"name", {"Anna", "Tom", "Mira", "Jonas", "Lena", "Peter", "Ida", "Karl"}},
      {"time", {"morning", "evening", "night", "spring", "winter", "afternoon"}},
      {"thing", {"lantern", "basket", "red stone", "letter", "key", "blue ribbon", "loaf of bread", "whistle"}},
      {"feeling", {"happy", "sad", "afraid", "proud", "surprised", "calm"}},
      {"weather", {"cold", "warm", "dark", "wet", "silent", "windy"}},
  };
}

Grammar recipes_grammar() {
  return {
      {"sentence",
       {"{mix} {amount} of {ingredient} in a {vessel}.", "bake for {number} minutes until the {dish} is {texture}.",
        "let the {ingredient} rest for {number} minutes.", "serve the {dish} with {ingredient} and a little {spice}.",
        "heat the {vessel} over {heat} heat and add the {ingredient}.",
        "season the {dish} with {spice} and stir well.", "{mix} the {ingredient} and the {ingredient} together.",
        "cook the {ingredient} on {heat} heat for {number} minutes, then add {amount} of {ingredient}."}},
      {"mix", {"whisk", "mix", "stir", "beat", "fold", "combine"}},
      {"amount", {"one cup", "two cups", "half a cup", "a spoon", "three spoons", "a pinch", "200 grams", "one litre"}},
      {"ingredient", {"flour", "sugar", "butter", "milk", "eggs", "rice", "onions", "garlic", "tomatoes", "cream",
                      "potatoes", "water"}},
      {"vessel", {"bowl", "pan", "pot", "dish", "tray", "jar"}},
      {"number", {"5", "10", "15", "20", "25", "30", "40", "45"}},
      {"dish", {"cake", "soup", "bread", "pie", "sauce", "stew", "tart", "porridge"}},
      {"texture", {"golden", "soft", "firm", "crisp", "smooth", "thick"}},
      {"spice", {"salt", "pepper", "cinnamon", "nutmeg", "basil", "thyme", "paprika"}},
      {"heat", {"low", "medium", "high", "gentle"}},
  };
}

class Expander {
 public:
  Expander(Grammar grammar, std::uint64_t seed) : grammar_(std::move(grammar)), rng_(seed) {}

  // One expansion of @p symbol with every {slot} filled in.
  std::string expand(std::string_view symbol) {
    const auto it = grammar_.find(symbol);
    if (it == grammar_.end()) throw Error("corpus: grammar has no symbol '" + std::string(symbol) + "'", ErrorCategory::Internal);
    const std::string& pattern = it->second[pick(it->second.size())];
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      if (pattern[i] != '{') {
        out += pattern[i];
        continue;
      }
      const std::size_t close = pattern.find('}', i);
      out += expand(std::string_view(pattern).substr(i + 1, close - i - 1));
      i = close;
    }
    return out;
  }

  // A uniform-enough index below @p n (n is tiny next to 2^64).
  std::size_t pick(std::size_t n) { return static_cast<std::size_t>(rng_() % n); }

 private:
  Grammar grammar_;
  std::mt19937_64 rng_;
};

std::string capitalised(std::string s) {
  const std::size_t first = s.find_first_not_of('"');
  if (first < s.size()) s[first] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[first])));
  return s;
}

std::string paragraph(Expander& expander) {
  const std::size_t sentences = 3 + expander.pick(4);
  std::string out;
  for (std::size_t i = 0; i < sentences; ++i) {
    if (i > 0) out += ' ';
    out += capitalised(expander.expand("sentence"));
  }
  return out;
}

struct CorpusOptions {
  std::string kind;
  std::int64_t paragraphs = 1000;
  std::uint64_t seed = 0;
  std::string out;
};

std::string corpus_text(const CorpusOptions& o) {
  Expander expander(o.kind == "a" ? tales_grammar() : recipes_grammar(), o.seed);
  std::string text;
  for (std::int64_t i = 0; i < o.paragraphs; ++i) {
    if (i > 0) text += "\n";
    text += paragraph(expander) + "\n";
  }
  return text;
}

void run_corpus(const CorpusOptions& o) {
  if (o.kind != "a" && o.kind != "b") throw Error("--kind '" + o.kind + "': must be a (village tales) or b (recipes)");
  if (o.paragraphs < 1) throw Error("--paragraphs " + std::to_string(o.paragraphs) + ": must be at least 1");
  const std::string text = corpus_text(o);
  if (o.out.empty() || o.out == "-") {
    std::cout << text;
    return;
  }
  io::write_file_atomically(o.out, std::as_bytes(std::span<const char>(text.data(), text.size())));
  std::printf("wrote %s: corpus %s, %lld paragraphs, %zu bytes, seed %llu\n", o.out.c_str(), o.kind.c_str(),
              static_cast<long long>(o.paragraphs), text.size(), static_cast<unsigned long long>(o.seed));
}

}  // namespace

void add_corpus_command(CLI::App& app) {
  auto o = std::make_shared<CorpusOptions>();
  auto* cmd = app.add_subcommand("corpus", "Generated English-like text for the demo: a (village tales) or b (recipes)");
  cmd->add_option("--kind", o->kind, "a: village tales (pre-training), b: kitchen recipes (fine-tuning)")->required();
  cmd->add_option("--paragraphs", o->paragraphs, "Paragraphs of 3 to 6 sentences")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed: the same seed gives the same text")->capture_default_str();
  cmd->add_option("--out", o->out, "File to write (default: standard output)");
  cmd->callback([o] { run_corpus(*o); });
}

}  // namespace tandem::cli
