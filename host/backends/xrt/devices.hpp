#pragma once
// Discovery of Xilinx cards through XRT. `xrt:N` names the N-th card in XRT's own order
// (`xbutil examine`, `tandem devices`). Without a card, discovery says why in one line.

#include <string>
#include <string_view>
#include <vector>

namespace tandem::xrt {

struct DeviceInfo {
  int index = 0;      // N in xrt:N
  std::string shell;  // the shell (platform VBNV) XRT reports, e.g. "xilinx_u280_gen3x16_xdma_base_1"
  std::string name;   // the card as bitstreams/ names it, from the VBNV: "u280"; else the VBNV
  std::string bdf;    // PCIe bus:device.function, when XRT reports it
};

struct Discovery {
  std::vector<DeviceInfo> devices;
  // Non-empty exactly when there is no device: one line saying why, e.g. "XRT 2.13.0 found
  // but no Xilinx card is present (XILINX_XRT is not set; no xocl/xclmgmt driver loaded)".
  std::string note;
};

// "xilinx_u280_gen3x16_xdma_base_1" -> "u280": the second field of a Xilinx VBNV; the VBNV
// itself when it has another form.
std::string card_name(std::string_view vbnv);

// Every card XRT sees. Never throws for a missing card, driver or XRT setup: those become
// the note.
Discovery discover();

// The index N of a device spec "xrt" (= 0) or "xrt:N"; anything else is an InvalidArgument
// error naming the spec.
int parse_device_spec(std::string_view spec);

// The card a spec names; a Device error carrying discovery's note when there is none.
DeviceInfo find_device(std::string_view spec);

}  // namespace tandem::xrt
