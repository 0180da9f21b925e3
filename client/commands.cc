#include "client/commands.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/args.h"
#include "client/error_details.h"
#include "client/format.h"
#include "client/gateway_client.h"

namespace tlclient {

namespace gw = ::twelvelabs::gateway::v1;

namespace {

constexpr char kTool[] = "tlctl";

// --- The command-line specification ---

OptionSpec Flag(std::string name, std::string help) {
  return OptionSpec{std::move(name), "", std::move(help)};
}
OptionSpec Value(std::string name, std::string value_name, std::string help, bool required = false,
                 bool repeated = false) {
  return OptionSpec{std::move(name), std::move(value_name), std::move(help), required, repeated};
}

const std::vector<OptionSpec>& GlobalOptions() {
  static const auto* options = new std::vector<OptionSpec>{
      Value("addr", "HOST:PORT", "gateway address (default: $TLGW_ADDR, else 127.0.0.1:50051)"),
      // The variable is the safer way: other users can read a command line.
      Value("token", "TOKEN", "bearer token for the gateway (default: $TLGW_TOKEN)"),
      Value("timeout", "SECONDS",
            "deadline of each call (default 30; upload and watch are unbounded unless given)"),
      Flag("tls", "connect with TLS, verifying the gateway with the system's roots"),
      Value("ca-file", "PEM", "connect with TLS, verifying the gateway with these CA certificates"),
      Flag("help", "show help"),
  };
  return *options;
}

std::vector<OptionSpec> CreateOptions() {
  return {
      Value("index", "ID", "the index to add the video to", /*required=*/true),
      Value("language", "CODE", "the video's spoken language, e.g. en (API v1.2)"),
      Flag("no-video-stream", "do not make an HLS stream (default: the upstream's, which makes one)"),
      Value("metadata", "KEY=VALUE",
            "user metadata; KEY:=VALUE for a number or true/false (API v1.3)",
            /*required=*/false, /*repeated=*/true),
      Value("request-id", "ID",
            "idempotency key (1-128 of A-Z a-z 0-9 _ -): a repeat returns "
            "the first task"),
      Flag("watch", "then watch the task until it is ready or failed"),
      Flag("json", "print the task as JSON"),
  };
}

CommandSpec Cmd(std::string name, std::string arguments, size_t min_positional,
                size_t max_positional, std::string summary, std::string description,
                std::vector<OptionSpec> options) {
  return CommandSpec{std::move(name),        std::move(arguments), std::move(summary),
                     std::move(description), min_positional,       max_positional,
                     std::move(options)};
}

const std::vector<CommandSpec>& Commands() {
  static const auto* commands = [] {
    const OptionSpec json = Flag("json", "print JSON");
    const OptionSpec watch = Flag("watch", "then watch the task until it is ready or failed");
    std::vector<OptionSpec> upload_options = CreateOptions();
    upload_options.push_back(
        Value("filename", "NAME", "the name upstream reports (default: FILE's last component)"));
    // `upload FILE --resume UPLOAD_ID` continues an asset upload (as
    // `asset upload --resume`): --index is then not needed.
    for (OptionSpec& o : upload_options) {
      if (o.name == "index") o.help = "(required unless --resume) the index to add the video to";
      if (o.name == "index") o.required = false;
    }
    upload_options.push_back(Value("resume", "UPLOAD_ID",
                                   "continue the multipart asset upload UPLOAD_ID of FILE (API v1.3; see "
                                   "'asset upload')"));
    const std::vector<OptionSpec> asset_upload_options = {
        Value("type", "TYPE", "video, audio or image (default: from FILE's extension, else video)"),
        Value("filename", "NAME", "the asset's file name (default: FILE's last component)"),
        Flag("hls", "make an HLS stream"),
        Flag("thumbnail", "make a thumbnail"),
        Value("metadata", "KEY=VALUE", "user metadata; KEY:=VALUE for a number or true/false",
              /*required=*/false, /*repeated=*/true),
        Value("resume", "UPLOAD_ID",
              "continue this multipart upload of FILE (after a lost stream): only the chunks "
              "upstream lacks are sent"),
        Value("index", "ID",
              "also index the asset into this index in the same call (UploadAndIndex: waits "
              "for the asset to be ready, then prints the indexed asset)"),
        // Unset by default, as `upload` and IndexAsset leave it: the
        // upstream's default (no stream for an indexed asset).
        Flag("video-stream", "with --index: make an HLS stream of the indexed asset (default: none)"),
        Flag("no-video-stream", "with --index: ask for no HLS stream of the indexed asset"),
        Value("request-id", "ID",
              "idempotency key (1-128 of A-Z a-z 0-9 _ -): a repeat with the same options returns the "
              "first asset (with --index: indexed asset) without uploading again; not with --resume"),
        Flag("watch", "then watch the asset (with --index: the indexed asset) until it is ready or failed"),
        Flag("json", "print the asset as JSON"),
    };
    std::vector<OptionSpec> url_options = CreateOptions();
    url_options.push_back(
        Value("transcription-url", "URL", "an SRT or VTT transcription (API v1.2)"));
    return new std::vector<CommandSpec>{
        Cmd("upload", "FILE", 1, 1, "Upload a video file and create an indexing task.",
            "Streams the file through the gateway in 1 MiB chunks with a progress bar\n"
            "(plain progress lines every 10% when stdout is not a terminal; on\n"
            "stderr with --json), then prints the task.",
            upload_options),
        Cmd("create-url", "URL", 1, 1, "Create an indexing task from a video URL.", "",
            url_options),
        Cmd("asset upload", "FILE", 1, 1, "Upload a local file as an asset (API v1.3).",
            "Streams the file through UploadAsset with a progress bar: up to 200 MB in\n"
            "one request, larger files (up to 10 GB) as a multipart upload the gateway\n"
            "cuts into chunks. If the stream is lost, the error names the upload id:\n"
            "run again with --resume UPLOAD_ID to send only what is missing.\n"
            "With --index ID the same stream goes through UploadAndIndex: the gateway\n"
            "waits for the asset to be ready and indexes it; the indexed asset is printed\n"
            "(and with --watch watched until it is ready or failed).",
            asset_upload_options),
        Cmd("create-youtube", "URL", 1, 1,
            "Create an indexing task from a YouTube video (API v1.2 only).", "",
            {Value("index", "ID", "the index to add the video to", true),
             Value("request-id", "ID", "idempotency key"), watch, json}),
        Cmd("get", "TASK_ID", 1, 1, "Show one task.", "", {json}),
        Cmd("list", "", 0, 0, "List tasks, newest first.",
            "Without --all, one page is shown and the token for the next one is\n"
            "printed on stderr.",
            {Value("index", "ID", "only tasks of this index"),
             Value("status", "S1,S2", "only tasks in these states, e.g. ready,indexing", false,
                   true),
             Value("filename", "NAME", "only tasks of this file name"),
             Value("page-size", "N", "tasks per page, 1-50 (default 10; 50 with --all)"),
             Value("page-token", "TOKEN", "continue a listing"), Flag("all", "list every page"),
             json}),
        Cmd("delete", "TASK_ID", 1, 1, "Delete a ready or failed task.", "", {}),
        Cmd("watch", "TASK_ID", 1, 1, "Watch a task until it is ready or failed.",
            "Shows a live status line on a terminal, a line per change otherwise.\n"
            "Exit status: 0 ready, 3 failed, 1 if the watch itself fails.",
            {Flag("json", "print each event as one line of JSON")}),
        Cmd("counts", "", 0, 0, "Count an index's tasks by status.", "",
            {Value("index", "ID", "the index", true), json}),
        Cmd("integrations", "", 0, 0, "List the S3 integrations the gateway knows.", "", {json}),
        Cmd("import", "INTEGRATION", 1, 1,
            "Import videos from an S3 integration (name or id) into an index.", "",
            {Value("index", "ID", "the index to import into", true),
             Flag("no-incremental", "import files already in the index again"),
             Flag("retry-failed", "retry files that failed before"),
             Value("metadata", "KEY=VALUE",
                   "user metadata for every video; KEY:=VALUE for a number or true/false", false,
                   true),
             json}),
        Cmd("import-status", "INTEGRATION", 1, 1, "Show an import's files by state.", "",
            {Value("index", "ID", "the index imported into", true), json}),
        Cmd("import-logs", "INTEGRATION", 1, 1, "List an integration's import runs.", "", {json}),
        Cmd("check-s3-setup", "", 0, 0, "Check S3 integration settings before using them.",
            "Prints each problem with its fix. Exit status 3 when a finding is an error.",
            {Value("bucket", "NAME", "the S3 bucket"),
             Value("region", "REGION", "the bucket's AWS region"),
             Value("account", "ID", "the 12-digit AWS account id"),
             Value("policy", "NAME", "the IAM policy name"),
             Value("role", "NAME", "the IAM role name"), json}),
        // Assets and indexed assets (API v1.3).
        Cmd("asset get", "ASSET_ID", 1, 1, "Show one asset.", "", {json}),
        Cmd("asset list", "", 0, 0, "List assets, newest first.",
            "Without --all, one page is shown and the token for the next one is\n"
            "printed on stderr.",
            {Value("id", "ASSET_ID", "only these assets", false, true),
             Value("type", "T1,T2", "only these kinds: video, audio, image", false, true),
             Value("filename", "TEXT", "only file names containing this (case-insensitive)"),
             Value("page-size", "N", "assets per page, 1-50 (default 10; 50 with --all)"),
             Value("page-token", "TOKEN", "continue a listing"), Flag("all", "list every page"),
             json}),
        Cmd("asset delete", "ASSET_ID", 1, 1, "Delete an asset.",
            "Refused while indexed assets refer to it (they are named); --force\n"
            "deletes it anyway.",
            {Flag("force", "delete even while indexed assets refer to it")}),
        Cmd("asset watch", "ASSET_ID", 1, 1, "Watch an asset until it is ready or failed.",
            "A line per change. Exit status: 0 ready, 3 failed, 1 if the watch\n"
            "itself fails.",
            {Flag("json", "print each event as one line of JSON")}),
        Cmd("indexed-asset get", "INDEXED_ASSET_ID", 1, 1, "Show one indexed asset.", "",
            {Value("index", "ID", "the index", true), json}),
        Cmd("indexed-asset list", "", 0, 0, "List an index's indexed assets.",
            "Without --all, one page is shown and the token for the next one is\n"
            "printed on stderr.",
            {Value("index", "ID", "the index", true),
             Value("status", "S1,S2", "only these states: pending, queued, indexing, ready, failed",
                   false, true),
             Value("filename", "NAME", "only this file name"),
             Value("min-duration", "SECONDS", "only videos at least this long"),
             Value("max-duration", "SECONDS", "only videos at most this long"),
             Value("sort", "FIELD", "created or updated (default: upstream's, created)"),
             Flag("asc", "oldest first"),
             Value("metadata", "KEY=VALUE", "only with this user metadata value", false, true),
             Value("page-size", "N", "indexed assets per page, 1-50 (default 10; 50 with --all)"),
             Value("page-token", "TOKEN", "continue a listing"), Flag("all", "list every page"),
             json}),
        Cmd("indexed-asset delete", "INDEXED_ASSET_ID", 1, 1, "Delete an indexed asset.", "",
            {Value("index", "ID", "the index", true)}),
        Cmd("indexed-asset watch", "INDEXED_ASSET_ID", 1, 1,
            "Watch an indexed asset until it is ready or failed.",
            "A line per change. Exit status: 0 ready, 3 failed, 1 if the watch\n"
            "itself fails.",
            {Value("index", "ID", "the index", true),
             Flag("json", "print each event as one line of JSON")}),
    };
  }();
  return *commands;
}

const CommandSpec* FindCommand(const std::string& name) {
  for (const auto& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// --- Running a command ---

class CommandRun {
 public:
  CommandRun(const ParsedArgs& args, const CliEnvironment& env, GatewayClient* client)
      : args_(args), env_(env), client_(client) {}

  int Run();

 private:
  int Upload();
  int AssetUpload();
  int CreateUrl();
  int CreateYoutube();
  int Get();
  int List();
  int Delete();
  int Watch();
  int Counts();
  int Integrations();
  int Import();
  int ImportStatus();
  int ImportLogs();
  int CheckS3Setup();
  int AssetGet();
  int AssetList();
  int AssetDelete();
  int AssetWatch();
  int IndexedAssetGet();
  int IndexedAssetList();
  int IndexedAssetDelete();
  int IndexedAssetWatch();
  int WatchIndexed(const twelvelabs::gateway::v1::WatchIndexedAssetRequest& request);

  // --page-size (default: 50 with --all, else 0 for the gateway's
  // default); false after printing the usage error.
  bool PageSize(int* page_size);
  // Fetches one page, or with --all every page, into `merged`; the token
  // of the next page is left in `merged`'s next_page_token without --all.
  template <typename Request, typename Response>
  absl::Status FetchPages(Request request,
                          absl::StatusOr<Response> (GatewayClient::*fetch)(const Request&),
                          void (*append)(Response* page, Response* merged), Response* merged);
  // After a list: on stderr, how to see more.
  void MoreHint(int shown, int64_t total, const std::string& next_token, const char* what);
  // Prints watch events (JSON lines or a line each) and turns the last
  // status into the exit code: 0 ready, kExitNegative failed.
  int WatchEnded(const absl::Status& status, const absl::Status& json_error,
                 const std::string& what, const std::string& id, const std::string& last_status);

  // After a create: print the task, then watch it if asked.
  int CreatedTask(const absl::StatusOr<gw::Task>& task);
  // Watches until the task is ready (0) or failed (kExitNegative).
  int WatchUntilDone(const std::string& task_id);
  int PrintMessage(const google::protobuf::Message& message, const std::string& human);

  int Fail(const absl::Status& status);
  int Usage(const std::string& message);
  absl::Status ParseMetadata(google::protobuf::Struct* out);

  bool json() const { return args_.Has("json"); }
  std::ostream& out() { return *env_.out; }

  const ParsedArgs& args_;
  const CliEnvironment& env_;
  GatewayClient* client_;
};

std::string Redact(std::string text, const std::string& token) {
  if (!token.empty()) absl::StrReplaceAll({{token, "[redacted]"}}, &text);
  return text;
}

int CommandRun::Fail(const absl::Status& status) {
  std::string token = args_.Get("token", env_.token);
  *env_.err << kTool << ": " << Redact(DescribeStatus(status), token) << "\n";
  if (status.code() == absl::StatusCode::kUnimplemented) {
    *env_.err << kTool << ": the gateway does not serve '" << args_.command
              << "' (an older gateway version?)\n";
  }
  return kExitCallFailed;
}

int CommandRun::Usage(const std::string& message) {
  *env_.err << kTool << ": " << message << "\nRun '" << kTool << " " << args_.command
            << " --help' for usage.\n";
  return kExitUsage;
}

absl::Status CommandRun::ParseMetadata(google::protobuf::Struct* out) {
  for (const std::string& item : args_.GetAll("metadata")) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--metadata '", item, "' is not KEY=VALUE or KEY:=VALUE"));
    }
    bool typed = item[eq - 1] == ':';
    std::string key = item.substr(0, typed ? eq - 1 : eq);
    std::string value = item.substr(eq + 1);
    if (key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--metadata '", item, "' has no key"));
    }
    google::protobuf::Value& v = (*out->mutable_fields())[key];
    if (!typed) {
      // Strings by default: "01234" is a zip code, not the number 1234.
      v.set_string_value(value);
    } else if (value == "true" || value == "false") {
      v.set_bool_value(value == "true");
    } else if (double d; absl::SimpleAtod(value, &d)) {
      v.set_number_value(d);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--metadata ", key, ":= takes a number or true/false, not '", value, "'"));
    }
  }
  return absl::OkStatus();
}

int CommandRun::PrintMessage(const google::protobuf::Message& message, const std::string& human) {
  if (!json()) {
    out() << human;
    return kExitOk;
  }
  absl::StatusOr<std::string> text = ToJson(message);
  if (!text.ok()) return Fail(text.status());
  out() << *text;
  return kExitOk;
}

int CommandRun::CreatedTask(const absl::StatusOr<gw::Task>& task) {
  if (!task.ok()) return Fail(task.status());
  int code = PrintMessage(*task, RenderTaskDetail(*task));
  if (code != kExitOk || !args_.Has("watch")) return code;
  if (task->status() == gw::TASK_STATUS_READY) return kExitOk;
  if (task->status() == gw::TASK_STATUS_FAILED) return kExitNegative;
  if (!json()) out() << "\n";
  return WatchUntilDone(task->id());
}

int CommandRun::Upload() {
  if (!args_.Has("index")) return Usage("'upload' needs --index ID (or --resume UPLOAD_ID)");
  gw::UploadVideoFileHeader header;
  header.set_index_id(args_.Get("index"));
  header.set_filename(args_.Get("filename"));
  header.set_language(args_.Get("language"));
  if (args_.Has("no-video-stream")) header.set_enable_video_stream(false);
  header.set_request_id(args_.Get("request-id"));
  if (absl::Status s = ParseMetadata(header.mutable_user_metadata()); !s.ok()) {
    return Usage(std::string(s.message()));
  }
  // Progress must not mix with JSON on stdout.
  std::ostream* progress_out = json() ? env_.err : env_.out;
  bool interactive = json() ? env_.stderr_is_terminal : env_.stdout_is_terminal;
  const std::string path = args_.positional[0];
  std::optional<ProgressPrinter> printer;
  auto progress = [&](int64_t sent, int64_t total) {
    if (!printer.has_value()) {
      *progress_out << "uploading " << SanitizeCell(path) << " (" << HumanBytes(total) << ")\n";
      printer.emplace(progress_out, interactive, env_.now());
    }
    printer->Update(sent, total, env_.now());
  };
  absl::StatusOr<gw::Task> task = client_->UploadFile(path, header, progress);
  if (printer.has_value()) printer->Finish();
  return CreatedTask(task);
}

namespace {

// The asset type a file name suggests; video when nothing does.
gw::AssetType TypeFromName(const std::string& path) {
  std::string ext = path.substr(path.find_last_of('.') == std::string::npos ? path.size() : path.find_last_of('.'));
  ext = absl::AsciiStrToLower(ext);
  for (const char* e : {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".heic", ".tif", ".tiff"}) {
    if (ext == e) return gw::ASSET_TYPE_IMAGE;
  }
  for (const char* e : {".mp3", ".wav", ".m4a", ".aac", ".flac", ".ogg", ".opus", ".wma"}) {
    if (ext == e) return gw::ASSET_TYPE_AUDIO;
  }
  return gw::ASSET_TYPE_VIDEO;
}

}  // namespace

int CommandRun::AssetUpload() {
  const std::string path = args_.positional[0];
  gw::UploadAssetHeader header;
  if (args_.Has("resume")) {
    // The session keeps the first upload's name, type and options.
    // (--index stays allowed on `asset upload --resume`: the continued
    // upload is then indexed; `upload --resume` has --index of its own.)
    const bool asset_command = args_.command == "asset upload";
    for (const char* option : {"type", "filename", "hls", "thumbnail", "metadata", "index", "language",
                               "video-stream", "no-video-stream", "request-id"}) {
      const std::string name = option;
      if (asset_command && (name == "index" || name == "video-stream" || name == "no-video-stream")) continue;
      if (args_.Has(option)) return Usage(absl::StrCat("--", option, " cannot go with --resume: the upload keeps the first one's"));
    }
    header.set_upload_id(args_.Get("resume"));
  } else {
    const std::string type = absl::AsciiStrToLower(args_.Get("type"));
    if (type.empty()) {
      header.set_type(TypeFromName(path));
    } else if (type == "video") {
      header.set_type(gw::ASSET_TYPE_VIDEO);
    } else if (type == "audio") {
      header.set_type(gw::ASSET_TYPE_AUDIO);
    } else if (type == "image") {
      header.set_type(gw::ASSET_TYPE_IMAGE);
    } else {
      return Usage(absl::StrCat("--type must be video, audio or image, not '", args_.Get("type"), "'"));
    }
    header.set_filename(args_.Get("filename"));
    header.set_request_id(args_.Get("request-id"));
    if (args_.Has("hls")) header.set_enable_hls(true);
    if (args_.Has("thumbnail")) header.set_enable_thumbnail(true);
    if (absl::Status s = ParseMetadata(header.mutable_user_metadata()); !s.ok()) {
      return Usage(std::string(s.message()));
    }
  }
  std::ostream* progress_out = json() ? env_.err : env_.out;
  bool interactive = json() ? env_.stderr_is_terminal : env_.stdout_is_terminal;
  std::optional<ProgressPrinter> printer;
  auto progress = [&](int64_t sent, int64_t total) {
    if (!printer.has_value()) {
      *progress_out << (header.upload_id().empty() ? "uploading " : "resuming ") << SanitizeCell(path) << " ("
                    << HumanBytes(total) << (sent > 0 ? absl::StrCat(", from ", HumanBytes(sent)) : "") << ")\n";
      printer.emplace(progress_out, interactive, env_.now());
    }
    printer->Update(sent, total, env_.now());
  };
  if (args_.Has("video-stream") && args_.Has("no-video-stream")) {
    return Usage("--video-stream and --no-video-stream contradict each other");
  }
  if (args_.command == "asset upload" && args_.Has("index")) {
    gw::UploadAndIndexHeader full;
    *full.mutable_upload() = std::move(header);
    full.set_index_id(args_.Get("index"));
    // Neither flag: unset, the upstream's default, as IndexAsset callers get.
    if (args_.Has("video-stream")) full.set_enable_video_stream(true);
    if (args_.Has("no-video-stream")) full.set_enable_video_stream(false);
    absl::StatusOr<gw::IndexedAsset> indexed = client_->UploadAndIndexFile(path, full, progress);
    if (printer.has_value()) printer->Finish();
    if (!indexed.ok()) return Fail(indexed.status());
    std::string line = absl::StrCat("indexed asset ", indexed->id(), "  ",
                                    SanitizeCell(IndexedAssetStatusName(*indexed)), "  asset ", indexed->asset_id(),
                                    "  index ", indexed->index_id(), "\n");
    int code = PrintMessage(*indexed, line);
    if (code != kExitOk || !args_.Has("watch")) return code;
    gw::WatchIndexedAssetRequest request;
    request.set_index_id(indexed->index_id());
    request.set_indexed_asset_id(indexed->id());
    return WatchIndexed(request);
  }
  for (const char* flag : {"video-stream", "no-video-stream"}) {
    if (args_.Has(flag)) return Usage(absl::StrCat("--", flag, " goes with --index"));
  }
  absl::StatusOr<gw::Asset> asset = client_->UploadAssetFile(path, header, progress);
  if (printer.has_value()) printer->Finish();
  if (!asset.ok()) return Fail(asset.status());
  std::string human = absl::StrCat("asset ", asset->id(), "  ", SanitizeCell(asset->status_text()), "  ",
                                   SanitizeCell(asset->filename()), "\n");
  int code = PrintMessage(*asset, human);
  if (code != kExitOk || !args_.Has("watch")) return code;
  gw::WatchAssetRequest request;
  request.set_asset_id(asset->id());
  gw::AssetStatus last = asset->status();
  absl::Status watched = client_->WatchAsset(request, [&](const gw::AssetEvent& e) {
    last = e.asset().status();
    if (json()) {
      absl::StatusOr<std::string> line = ToJson(e, /*multiline=*/false);
      if (line.ok()) out() << *line << "\n";
    } else {
      out() << "asset " << e.asset().id() << "  " << SanitizeCell(e.asset().status_text()) << "\n";
    }
    return true;
  });
  if (!watched.ok()) return Fail(watched);
  return last == gw::ASSET_STATUS_FAILED ? kExitNegative : kExitOk;
}

int CommandRun::CreateUrl() {
  gw::CreateUrlTaskRequest request;
  request.set_index_id(args_.Get("index"));
  request.set_video_url(args_.positional[0]);
  request.set_language(args_.Get("language"));
  if (args_.Has("no-video-stream")) request.set_enable_video_stream(false);
  request.set_request_id(args_.Get("request-id"));
  request.set_transcription_url(args_.Get("transcription-url"));
  if (absl::Status s = ParseMetadata(request.mutable_user_metadata()); !s.ok()) {
    return Usage(std::string(s.message()));
  }
  return CreatedTask(client_->CreateUrlTask(request));
}

int CommandRun::CreateYoutube() {
  gw::CreateExternalProviderTaskRequest request;
  request.set_index_id(args_.Get("index"));
  request.set_url(args_.positional[0]);
  request.set_request_id(args_.Get("request-id"));
  return CreatedTask(client_->CreateExternalProviderTask(request));
}

int CommandRun::Get() {
  absl::StatusOr<gw::Task> task = client_->GetTask(args_.positional[0]);
  if (!task.ok()) return Fail(task.status());
  return PrintMessage(*task, RenderTaskDetail(*task));
}

int CommandRun::List() {
  gw::ListTasksRequest request;
  request.set_index_id(args_.Get("index"));
  request.set_filename(args_.Get("filename"));
  for (const std::string& list : args_.GetAll("status")) {
    for (absl::string_view name : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
      gw::TaskStatus status = ParseTaskStatus(name);
      if (status == gw::TASK_STATUS_UNSPECIFIED) {
        return Usage(absl::StrCat("unknown status '", absl::StripAsciiWhitespace(name),
                                  "' (uploading, validating, pending, queued, indexing, ready, "
                                  "failed)"));
      }
      request.add_statuses(status);
    }
  }
  bool all = args_.Has("all");
  int page_size = all ? 50 : 0;
  if (args_.Has("page-size")) {
    if (!absl::SimpleAtoi(args_.Get("page-size"), &page_size) || page_size < 1 || page_size > 50) {
      return Usage(absl::StrCat("--page-size must be 1 to 50, not '", args_.Get("page-size"), "'"));
    }
  }
  request.set_page_size(page_size);
  request.set_page_token(args_.Get("page-token"));

  gw::ListTasksResponse merged;
  std::string next_token;
  std::string previous_token = request.page_token();
  while (true) {
    absl::StatusOr<gw::ListTasksResponse> page = client_->ListTasks(request);
    if (!page.ok()) return Fail(page.status());
    if (merged.tasks().empty()) merged.set_total_size(page->total_size());
    for (auto& t : *page->mutable_tasks()) *merged.add_tasks() = std::move(t);
    next_token = page->next_page_token();
    // A token that does not move would loop forever; stop rather than hang.
    if (!all || next_token.empty() || next_token == previous_token) break;
    previous_token = next_token;
    request.set_page_token(next_token);
  }
  if (!all) merged.set_next_page_token(next_token);

  if (json()) return PrintMessage(merged, "");
  if (merged.tasks().empty()) {
    out() << "no tasks found\n";
  } else {
    out() << RenderTaskTable({merged.tasks().begin(), merged.tasks().end()});
  }
  if (!all && !next_token.empty()) {
    // On stderr, so the table on stdout stays clean for scripts.
    *env_.err << "showing " << merged.tasks_size() << " of " << merged.total_size()
              << " tasks; --all lists them all, --page-token " << next_token
              << " shows the next page\n";
  }
  return kExitOk;
}

int CommandRun::Delete() {
  const std::string& id = args_.positional[0];
  if (absl::Status s = client_->DeleteTask(id); !s.ok()) return Fail(s);
  out() << "deleted task " << SanitizeCell(id) << "\n";
  return kExitOk;
}

int CommandRun::WatchUntilDone(const std::string& task_id) {
  gw::WatchTaskRequest request;
  request.set_task_id(task_id);
  WatchPrinter printer(env_.out, env_.stdout_is_terminal);
  std::optional<gw::Task> last;
  absl::Status json_error = absl::OkStatus();
  absl::Status status = client_->WatchTask(request, [&](const gw::TaskEvent& event) {
    last = event.task();
    if (json()) {
      absl::StatusOr<std::string> line = ToJson(event, /*multiline=*/false);
      if (!line.ok()) {
        json_error = line.status();
        return false;
      }
      out() << *line << std::flush;
    } else {
      printer.OnEvent(event);
    }
    // Stop at the terminal event rather than trusting the server to end the
    // stream right after it.
    return last->status() != gw::TASK_STATUS_READY && last->status() != gw::TASK_STATUS_FAILED;
  });
  printer.Finish();
  if (!json_error.ok()) return Fail(json_error);
  if (!status.ok()) return Fail(status);
  if (last.has_value() && last->status() == gw::TASK_STATUS_READY) return kExitOk;
  if (last.has_value() && last->status() == gw::TASK_STATUS_FAILED) {
    *env_.err << kTool << ": task " << SanitizeCell(task_id) << " failed\n";
    return kExitNegative;
  }
  *env_.err << kTool << ": the watch ended before task " << SanitizeCell(task_id)
            << " was ready or failed"
            << (last.has_value() ? absl::StrCat(" (last status: ", StatusName(*last), ")") : "")
            << "\n";
  return kExitCallFailed;
}

int CommandRun::Watch() { return WatchUntilDone(args_.positional[0]); }

int CommandRun::Counts() {
  auto counts = client_->GetIndexTaskCounts(args_.Get("index"));
  if (!counts.ok()) return Fail(counts.status());
  return PrintMessage(*counts, RenderIndexTaskCounts(*counts));
}

int CommandRun::Integrations() {
  auto list = client_->ListIntegrations();
  if (!list.ok()) return Fail(list.status());
  return PrintMessage(*list, RenderIntegrations(*list));
}

int CommandRun::Import() {
  gw::ImportVideosRequest request;
  request.set_integration(args_.positional[0]);
  request.set_index_id(args_.Get("index"));
  // Only sent when asked, so the upstream defaults apply otherwise.
  if (args_.Has("no-incremental")) request.set_incremental_import(false);
  if (args_.Has("retry-failed")) request.set_retry_failed(true);
  if (absl::Status s = ParseMetadata(request.mutable_user_metadata()); !s.ok()) {
    return Usage(std::string(s.message()));
  }
  auto response = client_->ImportVideos(request);
  if (!response.ok()) return Fail(response.status());
  return PrintMessage(*response, RenderImportStarted(*response));
}

int CommandRun::ImportStatus() {
  gw::GetImportStatusRequest request;
  request.set_integration(args_.positional[0]);
  request.set_index_id(args_.Get("index"));
  auto status = client_->GetImportStatus(request);
  if (!status.ok()) return Fail(status.status());
  return PrintMessage(*status, RenderImportStatus(*status));
}

int CommandRun::ImportLogs() {
  gw::ListImportLogsRequest request;
  request.set_integration(args_.positional[0]);
  auto logs = client_->ListImportLogs(request);
  if (!logs.ok()) return Fail(logs.status());
  return PrintMessage(*logs, RenderImportLogs(*logs));
}

int CommandRun::CheckS3Setup() {
  gw::CheckAwsS3SetupRequest request;
  request.set_bucket(args_.Get("bucket"));
  request.set_region(args_.Get("region"));
  request.set_aws_account_id(args_.Get("account"));
  request.set_policy_name(args_.Get("policy"));
  request.set_role_name(args_.Get("role"));
  auto response = client_->CheckAwsS3Setup(request);
  if (!response.ok()) return Fail(response.status());
  int code = PrintMessage(*response, RenderS3Findings(*response));
  if (code != kExitOk) return code;
  return response->ok() ? kExitOk : kExitNegative;
}

// --- Assets and indexed assets ---

bool CommandRun::PageSize(int* page_size) {
  *page_size = args_.Has("all") ? 50 : 0;
  if (!args_.Has("page-size")) return true;
  if (!absl::SimpleAtoi(args_.Get("page-size"), page_size) || *page_size < 1 || *page_size > 50) {
    Usage(absl::StrCat("--page-size must be 1 to 50, not '", args_.Get("page-size"), "'"));
    return false;
  }
  return true;
}

template <typename Request, typename Response>
absl::Status CommandRun::FetchPages(
    Request request, absl::StatusOr<Response> (GatewayClient::*fetch)(const Request&),
    void (*append)(Response* page, Response* merged), Response* merged) {
  const bool all = args_.Has("all");
  std::string previous_token = request.page_token();
  bool first = true;
  while (true) {
    absl::StatusOr<Response> page = (client_->*fetch)(request);
    if (!page.ok()) return page.status();
    if (first) merged->set_total_size(page->total_size());
    first = false;
    append(&*page, merged);
    const std::string next = page->next_page_token();
    // A token that does not move would loop forever; stop rather than hang.
    if (!all || next.empty() || next == previous_token) {
      if (!all) merged->set_next_page_token(next);
      return absl::OkStatus();
    }
    previous_token = next;
    request.set_page_token(next);
  }
}

void CommandRun::MoreHint(int shown, int64_t total, const std::string& next_token,
                          const char* what) {
  if (args_.Has("all") || next_token.empty()) return;
  *env_.err << "showing " << shown << (total > 0 ? absl::StrCat(" of ", total) : std::string())
            << " " << what << "; --all lists them all, --page-token " << next_token
            << " shows the next page\n";
}

int CommandRun::WatchEnded(const absl::Status& status, const absl::Status& json_error,
                           const std::string& what, const std::string& id,
                           const std::string& last_status) {
  if (!json_error.ok()) return Fail(json_error);
  if (!status.ok()) return Fail(status);
  if (last_status == "ready") return kExitOk;
  if (last_status == "failed") {
    *env_.err << kTool << ": " << what << " " << SanitizeCell(id) << " failed\n";
    return kExitNegative;
  }
  *env_.err << kTool << ": the watch ended before " << what << " " << SanitizeCell(id)
            << " was ready or failed"
            << (last_status.empty() ? "" : absl::StrCat(" (last status: ", last_status, ")"))
            << "\n";
  return kExitCallFailed;
}

int CommandRun::AssetGet() {
  absl::StatusOr<gw::Asset> asset = client_->GetAsset(args_.positional[0]);
  if (!asset.ok()) return Fail(asset.status());
  return PrintMessage(*asset, RenderAssetDetail(*asset));
}

int CommandRun::AssetList() {
  gw::ListAssetsRequest request;
  for (const std::string& id : args_.GetAll("id")) request.add_asset_ids(id);
  for (const std::string& list : args_.GetAll("type")) {
    for (absl::string_view name : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
      const std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(name));
      if (t == "video") {
        request.add_asset_types(gw::ASSET_TYPE_VIDEO);
      } else if (t == "audio") {
        request.add_asset_types(gw::ASSET_TYPE_AUDIO);
      } else if (t == "image") {
        request.add_asset_types(gw::ASSET_TYPE_IMAGE);
      } else {
        return Usage(absl::StrCat("unknown type '", t, "' (video, audio, image)"));
      }
    }
  }
  request.set_filename(args_.Get("filename"));
  int page_size = 0;
  if (!PageSize(&page_size)) return kExitUsage;
  request.set_page_size(page_size);
  request.set_page_token(args_.Get("page-token"));
  gw::ListAssetsResponse merged;
  absl::Status s = FetchPages<gw::ListAssetsRequest, gw::ListAssetsResponse>(
      request, &GatewayClient::ListAssets,
      [](gw::ListAssetsResponse* page, gw::ListAssetsResponse* into) {
        for (auto& a : *page->mutable_assets()) *into->add_assets() = std::move(a);
      },
      &merged);
  if (!s.ok()) return Fail(s);
  if (json()) return PrintMessage(merged, "");
  out() << (merged.assets().empty()
                ? std::string("no assets found\n")
                : RenderAssetTable({merged.assets().begin(), merged.assets().end()}));
  MoreHint(merged.assets_size(), merged.total_size(), merged.next_page_token(), "assets");
  return kExitOk;
}

int CommandRun::AssetDelete() {
  const std::string& id = args_.positional[0];
  if (absl::Status s = client_->DeleteAsset(id, args_.Has("force")); !s.ok()) return Fail(s);
  out() << "deleted asset " << SanitizeCell(id) << "\n";
  return kExitOk;
}

int CommandRun::AssetWatch() {
  gw::WatchAssetRequest request;
  request.set_asset_id(args_.positional[0]);
  std::string last;
  absl::Status json_error;
  absl::Status status = client_->WatchAsset(request, [&](const gw::AssetEvent& event) {
    last = AssetStatusName(event.asset());
    if (json()) {
      absl::StatusOr<std::string> line = ToJson(event, /*multiline=*/false);
      if (!line.ok()) {
        json_error = line.status();
        return false;
      }
      out() << *line << std::flush;
    } else {
      out() << AssetWatchLine(event) << std::flush;
    }
    return last != "ready" && last != "failed";
  });
  return WatchEnded(status, json_error, "asset", request.asset_id(), last);
}

int CommandRun::IndexedAssetGet() {
  auto ia = client_->GetIndexedAsset(args_.Get("index"), args_.positional[0]);
  if (!ia.ok()) return Fail(ia.status());
  return PrintMessage(*ia, RenderIndexedAssetDetail(*ia));
}

int CommandRun::IndexedAssetList() {
  gw::ListIndexedAssetsRequest request;
  request.set_index_id(args_.Get("index"));
  for (const std::string& list : args_.GetAll("status")) {
    for (absl::string_view name : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
      const std::string wanted = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(name));
      gw::IndexedAssetStatus status;
      if (!gw::IndexedAssetStatus_Parse(absl::StrCat("INDEXED_ASSET_STATUS_", wanted), &status) ||
          status == gw::INDEXED_ASSET_STATUS_UNSPECIFIED ||
          status == gw::INDEXED_ASSET_STATUS_OTHER) {
        return Usage(absl::StrCat("unknown status '", absl::StripAsciiWhitespace(name),
                                  "' (pending, queued, indexing, ready, failed)"));
      }
      request.add_statuses(status);
    }
  }
  request.set_filename(args_.Get("filename"));
  for (const char* bound : {"min-duration", "max-duration"}) {
    if (!args_.Has(bound)) continue;
    double seconds = 0;
    if (!absl::SimpleAtod(args_.Get(bound), &seconds) || seconds < 0) {
      return Usage(
          absl::StrCat("--", bound, " must be a number of seconds, not '", args_.Get(bound), "'"));
    }
    if (std::string(bound) == "min-duration") {
      request.mutable_duration_seconds()->set_min(seconds);
    } else {
      request.mutable_duration_seconds()->set_max(seconds);
    }
  }
  if (args_.Has("sort")) {
    const std::string sort = args_.Get("sort");
    if (sort == "created") {
      request.set_sort_by(gw::INDEXED_ASSET_SORT_FIELD_CREATE_TIME);
    } else if (sort == "updated") {
      request.set_sort_by(gw::INDEXED_ASSET_SORT_FIELD_UPDATE_TIME);
    } else {
      return Usage(absl::StrCat("--sort must be created or updated, not '", sort, "'"));
    }
  }
  if (args_.Has("asc")) request.set_sort_order(gw::SORT_ORDER_ASCENDING);
  for (const std::string& item : args_.GetAll("metadata")) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Usage(absl::StrCat("--metadata '", item, "' is not KEY=VALUE"));
    }
    (*request.mutable_user_metadata())[item.substr(0, eq)] = item.substr(eq + 1);
  }
  int page_size = 0;
  if (!PageSize(&page_size)) return kExitUsage;
  request.set_page_size(page_size);
  request.set_page_token(args_.Get("page-token"));
  gw::ListIndexedAssetsResponse merged;
  absl::Status s = FetchPages<gw::ListIndexedAssetsRequest, gw::ListIndexedAssetsResponse>(
      request, &GatewayClient::ListIndexedAssets,
      [](gw::ListIndexedAssetsResponse* page, gw::ListIndexedAssetsResponse* into) {
        for (auto& a : *page->mutable_indexed_assets()) *into->add_indexed_assets() = std::move(a);
      },
      &merged);
  if (!s.ok()) return Fail(s);
  if (json()) return PrintMessage(merged, "");
  out() << (merged.indexed_assets().empty()
                ? std::string("no indexed assets found\n")
                : RenderIndexedAssetTable(
                      {merged.indexed_assets().begin(), merged.indexed_assets().end()}));
  MoreHint(merged.indexed_assets_size(), merged.total_size(), merged.next_page_token(),
           "indexed assets");
  return kExitOk;
}

int CommandRun::IndexedAssetDelete() {
  const std::string& id = args_.positional[0];
  if (absl::Status s = client_->DeleteIndexedAsset(args_.Get("index"), id); !s.ok()) return Fail(s);
  out() << "deleted indexed asset " << SanitizeCell(id) << "\n";
  return kExitOk;
}

int CommandRun::IndexedAssetWatch() {
  gw::WatchIndexedAssetRequest request;
  request.set_index_id(args_.Get("index"));
  request.set_indexed_asset_id(args_.positional[0]);
  return WatchIndexed(request);
}

int CommandRun::WatchIndexed(const gw::WatchIndexedAssetRequest& request) {
  std::string last;
  absl::Status json_error;
  absl::Status status =
      client_->WatchIndexedAsset(request, [&](const gw::IndexedAssetEvent& event) {
        last = IndexedAssetStatusName(event.indexed_asset());
        if (json()) {
          absl::StatusOr<std::string> line = ToJson(event, /*multiline=*/false);
          if (!line.ok()) {
            json_error = line.status();
            return false;
          }
          out() << *line << std::flush;
        } else {
          out() << IndexedAssetWatchLine(event) << std::flush;
        }
        return last != "ready" && last != "failed";
      });
  return WatchEnded(status, json_error, "indexed asset", request.indexed_asset_id(), last);
}

int CommandRun::Run() {
  const std::string& c = args_.command;
  if (c == "asset get") return AssetGet();
  if (c == "asset list") return AssetList();
  if (c == "asset delete") return AssetDelete();
  if (c == "asset watch") return AssetWatch();
  if (c == "indexed-asset get") return IndexedAssetGet();
  if (c == "indexed-asset list") return IndexedAssetList();
  if (c == "indexed-asset delete") return IndexedAssetDelete();
  if (c == "indexed-asset watch") return IndexedAssetWatch();
  if (c == "upload") return args_.Has("resume") ? AssetUpload() : Upload();
  if (c == "asset upload") return AssetUpload();
  if (c == "create-url") return CreateUrl();
  if (c == "create-youtube") return CreateYoutube();
  if (c == "get") return Get();
  if (c == "list") return List();
  if (c == "delete") return Delete();
  if (c == "watch") return Watch();
  if (c == "counts") return Counts();
  if (c == "integrations") return Integrations();
  if (c == "import") return Import();
  if (c == "import-status") return ImportStatus();
  if (c == "import-logs") return ImportLogs();
  if (c == "check-s3-setup") return CheckS3Setup();
  return Usage(absl::StrCat("command '", c, "' is not implemented"));
}

}  // namespace

int RunTlctl(const std::vector<std::string>& args, const CliEnvironment& env) {
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(GlobalOptions(), Commands(), args);
  if (!parsed.ok()) {
    // Point at the command's own help when the line names a command.
    std::string help = kTool;
    for (size_t i = 0; i < args.size(); ++i) {
      if (i + 1 < args.size() && FindCommand(absl::StrCat(args[i], " ", args[i + 1])) != nullptr) {
        absl::StrAppend(&help, " ", args[i], " ", args[i + 1]);  // "asset get"
        break;
      }
      if (FindCommand(args[i]) != nullptr) {
        absl::StrAppend(&help, " ", args[i]);
        break;
      }
    }
    *env.err << kTool << ": " << parsed.status().message() << "\n"
             << "Run '" << help << " --help' for usage.\n";
    return kExitUsage;
  }
  if (parsed->help) {
    const CommandSpec* command = FindCommand(parsed->command);
    *env.out << (command != nullptr ? CommandUsage(kTool, *command, GlobalOptions())
                                    : ToolUsage(kTool, "A command-line client for tl-gateway.",
                                                Commands(), GlobalOptions()));
    return kExitOk;
  }
  if (parsed->command.empty()) {
    *env.err << ToolUsage(kTool, "A command-line client for tl-gateway.", Commands(),
                          GlobalOptions());
    return kExitUsage;
  }

  GatewayClientOptions options;
  options.address = parsed->Get("addr", env.address.empty() ? kDefaultAddress : env.address);
  // A token pasted with a trailing newline (or CR) is the usual slip: the
  // surrounding whitespace is dropped. Anything else that cannot go into an
  // HTTP/2 header is refused here, before gRPC would abort on it, and the
  // token is never printed.
  options.bearer_token = std::string(absl::StripAsciiWhitespace(parsed->Get("token", env.token)));
  for (char c : options.bearer_token) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      *env.err << kTool << ": the token (--token or $TLGW_TOKEN) contains a space, control or "
               << "non-ASCII character; check how it was copied (it is not shown here)\n";
      return kExitUsage;
    }
  }
  options.user_agent = "tlctl/1";
  if (parsed->Has("timeout")) {
    double seconds = 0;
    if (!absl::SimpleAtod(parsed->Get("timeout"), &seconds) || !(seconds > 0)) {
      *env.err << kTool << ": --timeout must be a positive number of seconds\n";
      return kExitUsage;
    }
    options.call_timeout = absl::Seconds(seconds);
    options.stream_timeout = absl::Seconds(seconds);
  }
  options.tls_root_ca_file = parsed->Get("ca-file");
  options.use_tls = parsed->Has("tls") || !options.tls_root_ca_file.empty();
  absl::StatusOr<std::unique_ptr<GatewayClient>> client = GatewayClient::Create(options);
  if (!client.ok()) {
    *env.err << kTool << ": " << DescribeStatus(client.status()) << "\n";
    return kExitCallFailed;
  }
  return CommandRun(*parsed, env, client->get()).Run();
}

}  // namespace tlclient
