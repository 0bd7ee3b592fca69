// The oracle for bench/fuzz_reader.py: protobuf's own C++ TextFormat parser and
// printer (the library Caffe links), run on many inputs in one process.
//
//   oracle SCHEMA.pb < requests > answers
//
// SCHEMA.pb is a FileDescriptorSet of caffe.proto (protoc --include_imports
// --descriptor_set_out). Each request is one byte, 'n' (NetParameter) or 's'
// (SolverParameter), a 4-byte little-endian length and that many bytes of text.
// The text is parsed as Caffe's ReadProtoFromTextFile parses it: a plain
// TextFormat::Parser (unknown fields and enum values are errors, required fields
// are checked), into a DynamicMessage of caffe.NetParameter or SolverParameter.
// Each answer is one byte and then:
//   'o': the deterministic serialization, then TextFormat::PrintToString's text
//        (what Caffe writes), each as a 4-byte length and the bytes;
//   'e': the first error's line and column (4 bytes each, 1-based as Caffe
//        prints them; line 0 for "missing required fields"), then its message
//        as a 4-byte length and the bytes.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>

namespace pb = google::protobuf;

namespace {

class FirstError : public pb::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (seen) return;
    seen = true;
    this->line = line + 1;  // as TextFormat itself prints it: 1-based
    this->column = column + 1;
    this->message = message;
  }
  void AddWarning(int, int, const std::string&) override {}
  bool seen = false;
  int line = 0;
  int column = 0;
  std::string message;
};

bool ReadExactly(std::istream& in, char* data, size_t size) {
  in.read(data, static_cast<std::streamsize>(size));
  return static_cast<size_t>(in.gcount()) == size;
}

void PutU32(std::string* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void PutBlob(std::string* out, const std::string& blob) {
  PutU32(out, static_cast<uint32_t>(blob.size()));
  out->append(blob);
}

std::string Answer(const pb::Message& prototype, const std::string& text) {
  std::unique_ptr<pb::Message> message(prototype.New());
  pb::io::ArrayInputStream input(text.data(), static_cast<int>(text.size()));
  FirstError errors;
  pb::TextFormat::Parser parser;  // the defaults, as TextFormat::Parse (Caffe's call) uses them
  parser.RecordErrorsTo(&errors);
  std::string out;
  if (!parser.Parse(&input, message.get())) {
    out.push_back('e');
    PutU32(&out, static_cast<uint32_t>(errors.line));
    PutU32(&out, static_cast<uint32_t>(errors.column));
    PutBlob(&out, errors.seen ? errors.message : "parse failed without an error message");
    return out;
  }
  std::string wire;
  {
    pb::io::StringOutputStream stream(&wire);
    pb::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message->SerializeToCodedStream(&coded);
  }
  std::string printed;
  pb::TextFormat::PrintToString(*message, &printed);
  out.push_back('o');
  PutBlob(&out, wire);
  PutBlob(&out, printed);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SCHEMA.pb < requests > answers\n", argv[0]);
    return 2;
  }
  std::ifstream schema_file(argv[1], std::ios::binary);
  std::stringstream schema_bytes;
  schema_bytes << schema_file.rdbuf();
  pb::FileDescriptorSet files;
  if (!schema_file || !files.ParseFromString(schema_bytes.str())) {
    std::fprintf(stderr, "%s: not a FileDescriptorSet\n", argv[1]);
    return 2;
  }
  pb::DescriptorPool pool;
  for (const auto& file : files.file()) {
    if (pool.BuildFile(file) == nullptr) {
      std::fprintf(stderr, "%s: cannot build %s\n", argv[1], file.name().c_str());
      return 2;
    }
  }
  const pb::Descriptor* net = pool.FindMessageTypeByName("caffe.NetParameter");
  const pb::Descriptor* solver = pool.FindMessageTypeByName("caffe.SolverParameter");
  if (net == nullptr || solver == nullptr) {
    std::fprintf(stderr, "%s: no caffe.NetParameter and caffe.SolverParameter\n", argv[1]);
    return 2;
  }
  pb::SetLogHandler(nullptr);  // no "invalid UTF-8" log lines: the answers say all there is to say
  pb::DynamicMessageFactory factory(&pool);
  const pb::Message* prototypes[2] = {factory.GetPrototype(net), factory.GetPrototype(solver)};

  std::ios::sync_with_stdio(false);
  while (true) {
    char head[5];
    if (!ReadExactly(std::cin, head, 5)) return 0;  // the end of the requests
    uint32_t size = 0;
    for (int i = 0; i < 4; ++i) size |= static_cast<uint32_t>(static_cast<unsigned char>(head[1 + i])) << (8 * i);
    std::string text(size, '\0');
    if (!ReadExactly(std::cin, &text[0], size)) {
      std::fprintf(stderr, "a request was cut short\n");
      return 2;
    }
    if (head[0] != 'n' && head[0] != 's') {
      std::fprintf(stderr, "unknown request kind %d\n", head[0]);
      return 2;
    }
    std::string answer = Answer(*prototypes[head[0] == 's'], text);
    std::cout.write(answer.data(), static_cast<std::streamsize>(answer.size()));
    std::cout.flush();
  }
}
