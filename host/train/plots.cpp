#include "train/plots.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <sstream>

#include "io/atomic_file.hpp"

namespace tandem::train {
namespace {

constexpr double kWidth = 720, kHeight = 400;
constexpr double kLeft = 70, kRight = 20, kTop = 30, kBottom = 50;

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

void open_svg(std::ostringstream& s, double width, double height, const std::string& title) {
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << width << ' ' << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << width / 2 << "\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">" << escape(title)
    << "</text>\n";
}

// Maps [lo, hi] onto pixels [p0, p1]; a zero-width range maps to the middle.
struct Axis {
  double lo, hi, p0, p1;
  [[nodiscard]] double at(double v) const {
    return hi > lo ? p0 + (v - lo) / (hi - lo) * (p1 - p0) : (p0 + p1) / 2;
  }
};

void draw_axes(std::ostringstream& s, const Axis& x, const Axis& y, const std::string& xlabel, const std::string& ylabel) {
  s << "<line x1=\"" << kLeft << "\" y1=\"" << kHeight - kBottom << "\" x2=\"" << kWidth - kRight << "\" y2=\""
    << kHeight - kBottom << "\" stroke=\"black\"/>\n"
    << "<line x1=\"" << kLeft << "\" y1=\"" << kTop << "\" x2=\"" << kLeft << "\" y2=\"" << kHeight - kBottom
    << "\" stroke=\"black\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double xv = x.lo + (x.hi - x.lo) * i / 4.0;
    const double yv = y.lo + (y.hi - y.lo) * i / 4.0;
    s << "<text x=\"" << x.at(xv) << "\" y=\"" << kHeight - kBottom + 16 << "\" text-anchor=\"middle\">" << fmt(xv)
      << "</text>\n"
      << "<text x=\"" << kLeft - 6 << "\" y=\"" << y.at(yv) + 4 << "\" text-anchor=\"end\">" << fmt(yv) << "</text>\n";
  }
  s << "<text x=\"" << (kLeft + kWidth - kRight) / 2 << "\" y=\"" << kHeight - 10 << "\" text-anchor=\"middle\">"
    << escape(xlabel) << "</text>\n"
    << "<text x=\"16\" y=\"" << (kTop + kHeight - kBottom) / 2 << "\" text-anchor=\"middle\" transform=\"rotate(-90 16 "
    << (kTop + kHeight - kBottom) / 2 << ")\">" << escape(ylabel) << "</text>\n";
}

}  // namespace

std::string loss_curve_svg(const std::vector<StepMetrics>& metrics) {
  std::ostringstream s;
  open_svg(s, kWidth, kHeight, "Loss by step");
  double xmin = 0, xmax = 0, ymin = 0, ymax = 0;
  bool any = false;
  const auto widen = [&](double x, double y) {
    if (!std::isfinite(y)) return;
    if (!any) {
      xmin = xmax = x;
      ymin = ymax = y;
      any = true;
    }
    xmin = std::min(xmin, x), xmax = std::max(xmax, x), ymin = std::min(ymin, y), ymax = std::max(ymax, y);
  };
  for (const StepMetrics& m : metrics) {
    widen(static_cast<double>(m.step), m.loss);
    if (m.eval_loss) widen(static_cast<double>(m.step), *m.eval_loss);
  }
  if (!any) {
    s << "<text x=\"" << kWidth / 2 << "\" y=\"" << kHeight / 2 << "\" text-anchor=\"middle\">no finite loss</text>\n</svg>\n";
    return s.str();
  }
  const Axis x{xmin, xmax, kLeft, kWidth - kRight};
  const Axis y{ymin, ymax, kHeight - kBottom, kTop};
  draw_axes(s, x, y, "step", "loss");
  s << "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"";
  for (const StepMetrics& m : metrics)
    if (std::isfinite(m.loss)) s << x.at(static_cast<double>(m.step)) << ',' << y.at(m.loss) << ' ';
  s << "\"/>\n";
  for (const StepMetrics& m : metrics)
    if (m.eval_loss && std::isfinite(*m.eval_loss))
      s << "<circle cx=\"" << x.at(static_cast<double>(m.step)) << "\" cy=\"" << y.at(*m.eval_loss)
        << "\" r=\"4\" fill=\"#d62728\"/>\n";
  s << "<text x=\"" << kWidth - kRight << "\" y=\"" << kTop << "\" text-anchor=\"end\" fill=\"#1f77b4\">train</text>\n"
    << "<text x=\"" << kWidth - kRight << "\" y=\"" << kTop + 16 << "\" text-anchor=\"end\" fill=\"#d62728\">eval</text>\n"
    << "</svg>\n";
  return s.str();
}

std::string timeline_svg(const std::vector<TimelineGraph>& graphs, const std::vector<sched::Device>& devices) {
  constexpr double kRow = 36, kLabel = 90;
  const double height = kTop + kRow * static_cast<double>(devices.size()) + kBottom;
  std::ostringstream s;
  open_svg(s, kWidth, height, "Device timeline of the last step");
  double total_ms = 0;
  for (const TimelineGraph& g : graphs) total_ms += g.report->wall_ms;
  const Axis x{0, std::max(total_ms, 1e-6), kLabel, kWidth - kRight};
  for (std::size_t d = 0; d < devices.size(); ++d)
    s << "<text x=\"" << kLabel - 6 << "\" y=\"" << kTop + kRow * static_cast<double>(d) + kRow / 2 + 4
      << "\" text-anchor=\"end\">" << escape(devices[d].spec) << "</text>\n";
  static constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c"};  // forward, backward, optimizer
  double offset = 0;
  for (const TimelineGraph& g : graphs) {
    for (const graph::Task& t : g.graph->tasks()) {
      if (t.id >= g.report->runs.size()) continue;
      const sched::TaskRun& run = g.report->runs[t.id];
      if (run.device < 0 || static_cast<std::size_t>(run.device) >= devices.size()) continue;
      const double x0 = x.at(offset + run.start_ms);
      const double w = std::max(x.at(offset + run.end_ms) - x0, 0.5);
      s << "<rect x=\"" << x0 << "\" y=\"" << kTop + kRow * run.device + 4 << "\" width=\"" << w << "\" height=\""
        << kRow - 8 << "\" fill=\"" << kColours[static_cast<int>(t.scope.phase) % 3] << "\"><title>"
        << escape(t.name) << " " << fmt(run.end_ms - run.start_ms) << " ms</title></rect>\n";
    }
    offset += g.report->wall_ms;
  }
  const double axis_y = kTop + kRow * static_cast<double>(devices.size());
  s << "<line x1=\"" << kLabel << "\" y1=\"" << axis_y << "\" x2=\"" << kWidth - kRight << "\" y2=\"" << axis_y
    << "\" stroke=\"black\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double v = total_ms * i / 4.0;
    s << "<text x=\"" << x.at(v) << "\" y=\"" << axis_y + 16 << "\" text-anchor=\"middle\">" << fmt(v) << "</text>\n";
  }
  s << "<text x=\"" << (kLabel + kWidth - kRight) / 2 << "\" y=\"" << height - 10
    << "\" text-anchor=\"middle\">ms (forward blue, backward orange, optimizer green)</text>\n</svg>\n";
  return s.str();
}

void write_svg(const std::filesystem::path& path, const std::string& svg) {
  io::write_file_atomically(path, std::as_bytes(std::span(svg.data(), svg.size())));
}

}  // namespace tandem::train
