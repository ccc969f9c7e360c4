#pragma once
// The kernels described by an xclbin's EMBEDDED_METADATA: a small XML scanner, enough for the
// well-formed, attribute-only XML that Vitis writes (no DTD, no namespaces). It checks that
// tags nest and close, that attributes are quoted, and decodes the five predefined entities
// and ASCII character references.

#include <string>
#include <string_view>
#include <vector>

namespace tandem::bitstream {

struct XmlArg {
  std::string name;
  int index = 0;
  std::string type;
  std::string address_qualifier;  // "scalar", "global", "constant", "local", "stream"
};

struct XmlKernel {
  std::string name;
  std::vector<XmlArg> args;  // ascending index; components without an id are left out
};

// The <kernel> elements of project/platform/device/core and their <arg> children. Malformed
// XML or a kernel/argument without a name or with a bad id is an Io error "<where>: <problem>".
std::vector<XmlKernel> kernels_from_metadata(std::string_view xml, const std::string& where);

}  // namespace tandem::bitstream
