#include "bitstream/xml_scan.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>

#include "core/printable.hpp"
#include "tandem/error.hpp"

namespace tandem::bitstream {
namespace {

struct StartTag {
  std::string name;
  std::map<std::string, std::string> attrs;
  bool self_closing = false;
};

class Scanner {
 public:
  Scanner(std::string_view text, const std::string& where) : text_(text), where_(where) {}

  // Calls on_start(open element names, tag) for each start tag, in document order.
  template <class F>
  void run(F&& on_start);

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(printable(where_ + ": " + what + " (at byte " + std::to_string(pos_) + ")"), ErrorCategory::Io);
  }
  void skip_past(std::string_view end, const char* what);
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  std::string read_name();
  std::string read_value();
  StartTag read_start_tag();
  void read_end_tag(std::vector<std::string>& open);

  std::string_view text_;
  const std::string& where_;
  std::size_t pos_ = 0;
};

bool name_char(char c, bool first) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalpha(u) || c == '_' || c == ':' || (!first && (std::isdigit(u) || c == '-' || c == '.'));
}

template <class F>
void Scanner::run(F&& on_start) {
  std::vector<std::string> open;
  bool seen_root = false;
  while (true) {
    pos_ = text_.find('<', pos_);
    if (pos_ == std::string_view::npos) break;
    const std::string_view rest = text_.substr(pos_);
    if (rest.starts_with("<?")) {
      skip_past("?>", "processing instruction");
    } else if (rest.starts_with("<!--")) {
      skip_past("-->", "comment");
    } else if (rest.starts_with("<![CDATA[")) {
      skip_past("]]>", "CDATA section");
    } else if (rest.starts_with("<!")) {
      skip_past(">", "declaration");
    } else if (rest.starts_with("</")) {
      read_end_tag(open);
    } else {
      if (open.empty() && seen_root) fail("a second root element");
      StartTag tag = read_start_tag();
      seen_root = true;
      on_start(static_cast<const std::vector<std::string>&>(open), static_cast<const StartTag&>(tag));
      if (!tag.self_closing) open.push_back(std::move(tag.name));
    }
  }
  if (!open.empty()) fail("<" + open.back() + "> is not closed");
  if (!seen_root) fail("no XML element");
}

void Scanner::skip_past(std::string_view end, const char* what) {
  const std::size_t at = text_.find(end, pos_ + 1);
  if (at == std::string_view::npos) fail(std::string("unterminated ") + what);
  pos_ = at + end.size();
}

std::string Scanner::read_name() {
  const std::size_t start = pos_;
  if (pos_ >= text_.size() || !name_char(text_[pos_], true)) fail("expected a name");
  while (pos_ < text_.size() && name_char(text_[pos_], false)) ++pos_;
  return std::string(text_.substr(start, pos_ - start));
}

std::string Scanner::read_value() {
  if (pos_ >= text_.size() || (text_[pos_] != '"' && text_[pos_] != '\'')) fail("expected a quoted attribute value");
  const char quote = text_[pos_++];
  std::string value;
  while (true) {
    if (pos_ >= text_.size()) fail("unterminated attribute value");
    const char c = text_[pos_];
    if (c == quote) break;
    if (c == '<') fail("'<' inside an attribute value");
    if (c != '&') {
      value += c;
      ++pos_;
      continue;
    }
    const std::size_t semi = text_.find(';', pos_);
    if (semi == std::string_view::npos || semi - pos_ > 10) fail("unterminated entity reference");
    const std::string_view entity = text_.substr(pos_ + 1, semi - pos_ - 1);
    static const std::map<std::string_view, char> named = {
        {"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''}};
    if (auto it = named.find(entity); it != named.end()) {
      value += it->second;
    } else if (entity.starts_with('#')) {
      const bool hex = entity.size() > 1 && (entity[1] == 'x' || entity[1] == 'X');
      const std::string_view digits = entity.substr(hex ? 2 : 1);
      unsigned code = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), code, hex ? 16 : 10);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || code == 0 || code > 127)
        fail("unsupported character reference &" + std::string(entity) + ";");
      value += static_cast<char>(code);
    } else {
      fail("unknown entity &" + std::string(entity) + ";");
    }
    pos_ = semi + 1;
  }
  ++pos_;
  return value;
}

StartTag Scanner::read_start_tag() {
  ++pos_;  // '<'
  StartTag tag;
  tag.name = read_name();
  while (true) {
    const std::size_t before = pos_;
    skip_space();
    if (pos_ >= text_.size()) fail("unterminated <" + tag.name + "> tag");
    if (text_.substr(pos_).starts_with("/>")) {
      pos_ += 2;
      tag.self_closing = true;
      return tag;
    }
    if (text_[pos_] == '>') {
      ++pos_;
      return tag;
    }
    if (pos_ == before) fail("expected a space before an attribute of <" + tag.name + ">");
    std::string attr = read_name();
    skip_space();
    if (pos_ >= text_.size() || text_[pos_] != '=') fail("expected '=' after attribute " + attr);
    ++pos_;
    skip_space();
    std::string value = read_value();
    if (!tag.attrs.emplace(std::move(attr), std::move(value)).second) fail("a repeated attribute in <" + tag.name + ">");
  }
}

void Scanner::read_end_tag(std::vector<std::string>& open) {
  pos_ += 2;
  const std::string name = read_name();
  skip_space();
  if (pos_ >= text_.size() || text_[pos_] != '>') fail("unterminated </" + name + "> tag");
  ++pos_;
  if (open.empty()) fail("</" + name + "> closes nothing");
  if (open.back() != name) fail("</" + name + "> closes <" + open.back() + ">");
  open.pop_back();
}

// Vitis writes numbers as decimal or 0x-prefixed hex (XRT reads them with std::stoul base 0).
std::optional<unsigned long> to_number(const std::string& s) {
  const bool hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  const char* first = s.data() + (hex ? 2 : 0);
  const char* last = s.data() + s.size();
  unsigned long v = 0;
  const auto [end, ec] = std::from_chars(first, last, v, hex ? 16 : 10);
  if (first == last || ec != std::errc() || end != last) return std::nullopt;
  return v;
}

std::string qualifier_name(unsigned long q) {
  switch (q) {
    case 0: return "scalar";
    case 1: return "global";
    case 2: return "constant";
    case 3: return "local";
    case 4: return "stream";
    default: return "qualifier " + std::to_string(q);
  }
}

const std::string& required(const StartTag& tag, const std::string& attr, const std::string& where) {
  auto it = tag.attrs.find(attr);
  if (it == tag.attrs.end() || it->second.empty())
    throw Error(printable(where + ": <" + tag.name + "> without a \"" + attr + "\" attribute"), ErrorCategory::Io);
  return it->second;
}

}  // namespace

std::vector<XmlKernel> kernels_from_metadata(std::string_view xml, const std::string& where) {
  static const std::vector<std::string> core_path = {"project", "platform", "device", "core"};
  std::vector<XmlKernel> kernels;
  bool in_kernel = false;
  Scanner(xml, where).run([&](const std::vector<std::string>& open, const StartTag& tag) {
    if (tag.name == "kernel" && open == core_path) {
      kernels.push_back({required(tag, "name", where), {}});
      in_kernel = true;
      return;
    }
    if (tag.name != "arg" || !in_kernel || open.size() != core_path.size() + 1 ||
        !std::equal(core_path.begin(), core_path.end(), open.begin()) || open.back() != "kernel")
      return;
    XmlKernel& k = kernels.back();
    XmlArg arg;
    arg.name = required(tag, "name", where);
    const auto id = tag.attrs.find("id");
    if (id == tag.attrs.end() || id->second.empty()) return;  // an unindexed component (sw_emu work sizes)
    const auto index = to_number(id->second);
    if (!index || *index > 1u << 16)
      throw Error(printable(where + ": kernel " + k.name + " argument " + arg.name + ": bad id \"" + id->second + "\""), ErrorCategory::Io);
    arg.index = static_cast<int>(*index);
    if (auto q = tag.attrs.find("addressQualifier"); q != tag.attrs.end()) {
      const auto v = to_number(q->second);
      if (!v)
        throw Error(printable(where + ": kernel " + k.name + " argument " + arg.name + ": bad addressQualifier \"" +
                              q->second + "\""),
                    ErrorCategory::Io);
      arg.address_qualifier = qualifier_name(*v);
    }
    if (auto t = tag.attrs.find("type"); t != tag.attrs.end()) arg.type = t->second;
    k.args.push_back(std::move(arg));
  });
  // A multi-component argument repeats its id; the first component names it.
  for (XmlKernel& k : kernels) {
    const auto by_index = [](const XmlArg& a, const XmlArg& b) { return a.index < b.index; };
    std::stable_sort(k.args.begin(), k.args.end(), by_index);
    k.args.erase(std::unique(k.args.begin(), k.args.end(), [](const XmlArg& a, const XmlArg& b) { return a.index == b.index; }),
                 k.args.end());
  }
  return kernels;
}

}  // namespace tandem::bitstream
