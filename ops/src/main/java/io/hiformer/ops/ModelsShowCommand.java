package io.hiformer.ops;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hiformer.features.Transforms;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.ModelRegistry.Version;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code hiformer models show}: one version in full, after verifying it as a server would. */
@Command(name = "show",
    description = {"Prints a version's number, SHA-256, creation time, size and aliases, verifies the file"
        + " (hash and model validation, as a ranker does before serving it), then prints its config, metadata"
        + " and lineage. Long metadata is summarised (the stored transforms as one line a field: kind, vocabulary"
        + " size and its first values); --full prints it all.", "Exits 2 if the model, version or alias does not exist or the file fails verification."})
final class ModelsShowCommand extends RegistryCommand {

  @Option(names = "--model", required = true, paramLabel = "NAME", description = "model name")
  String model;

  @Option(names = "--version", defaultValue = ModelRegistry.LATEST, paramLabel = "V|ALIAS",
      description = "version number, alias or 'latest' (default: ${DEFAULT-VALUE})")
  String version;

  @Option(names = "--full", description = "print metadata values in full, every vocabulary included")
  boolean full;

  /** Vocabulary values shown per field, and the longest metadata value shown whole, without --full. */
  static final int SHOWN_VALUES = 5;
  static final int SHOWN_CHARS = 200;

  @Override
  int run(ModelRegistry r, PrintStream out) throws IOException {
    Version v = resolve(r, model, version);
    List<String> aliases = r.aliases(model).entrySet().stream().filter(e -> e.getValue() == v.number())
        .map(Map.Entry::getKey).toList();
    out.printf("model      %s%n", v.model());
    out.printf("version    %d%n", v.number());
    out.printf("aliases    %s%n", aliases.isEmpty() ? "-" : String.join(", ", aliases));
    out.printf("sha256     %s%n", v.sha256());
    out.printf("created    %s%n", v.created());
    out.printf("size       %d bytes%n", Files.size(v.file()));
    out.printf("file       %s%n", v.file());
    ModelFile.Loaded loaded = r.verify(v);
    out.println("verified   SHA-256 matches and the model file is valid");
    ModelConfig c = loaded.parameters().config();
    out.printf("config     %s: token_dim %d, heads %d, layers %d, tasks %s, rank_k %d, rank_v %d, %d fields,"
            + " %d tokens, %d parameters%n", c.name().isEmpty() ? "(unnamed)" : c.name(), c.tokenDim(), c.heads(),
        c.layers(), c.tasks(), c.rankK(), c.rankV(), c.fields().size(), c.numTokens(), loaded.parameters().count());
    for (Map.Entry<String, String> e : loaded.metadata().entrySet()) {
      String k = e.getKey();
      String val = e.getValue();
      if (full || val.length() <= SHOWN_CHARS) {
        out.printf("metadata   %s = %s%n", k, val);
      } else if (k.equals(Transforms.METADATA_KEY)) {
        printTransforms(val, out);
      } else {
        out.printf("metadata   %s = %s... (%,d characters; --full for all)%n", k, val.substring(0, SHOWN_CHARS),
            val.length());
      }
    }
    out.println("lineage");
    out.println(v.lineageJson().strip());
    return 0;
  }

  /** The stored transforms, one line a field; vocabularies as their size and first values. */
  private static void printTransforms(String json, PrintStream out) throws IOException {
    JsonNode root = new ObjectMapper().readTree(json);
    out.printf("metadata   %s = (%,d characters; --full for all)%n", Transforms.METADATA_KEY, json.length());
    for (JsonNode f : root.path("fields")) {
      StringBuilder line = new StringBuilder(String.format(java.util.Locale.ROOT, "  field    %s: %s, %s", f.path("name").asText(),
          f.path("kind").asText(), f.path("side").asText()));
      JsonNode vocab = f.path("vocabulary");
      JsonNode open = f.path("open_state");
      if (open.isObject()) {
        List<String> first = new ArrayList<>();
        for (JsonNode id : vocab) {
          if (!id.isNull() && first.size() < SHOWN_VALUES) {
            first.add(id.asText());
          }
        }
        line.append(String.format(java.util.Locale.ROOT, ", open vocabulary %,d of at most %,d ids (%,d admitted,"
            + " %,d expired, %,d refused at the maximum, over %,d examples): %s%s", open.path("rows").size(),
            f.path("max_vocabulary").asInt(), open.path("admitted").asLong(), open.path("expired").asLong(),
            open.path("refused").asLong(), open.path("clock").asLong(), String.join(", ", first),
            open.path("rows").size() > SHOWN_VALUES ? ", ..." : ""));
      } else if (vocab.isArray()) {
        List<String> first = new ArrayList<>();
        for (int i = 0; i < Math.min(SHOWN_VALUES, vocab.size()); i++) {
          first.add(vocab.get(i).asText());
        }
        line.append(String.format(java.util.Locale.ROOT, ", vocabulary %,d: %s%s", vocab.size(), String.join(", ", first),
            vocab.size() > SHOWN_VALUES ? ", ..." : ""));
      }
      if (f.has("mean")) {
        line.append(String.format(java.util.Locale.ROOT, ", mean %.4g, std %.4g", f.path("mean").asDouble(), f.path("std").asDouble()));
      }
      out.println(line);
    }
  }
}
