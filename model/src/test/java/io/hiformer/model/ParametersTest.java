package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.model.ModelConfig.Field;
import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.model.ModelConfig.Side;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The table of parameter names, shapes and kinds, and the views by role built from it. */
class ParametersTest {

  /** Small configs of every variant: bags or not, dense fields or not, pruned or not, 1 to 3 layers. */
  private static List<ModelConfig> configs() {
    List<ModelConfig> out = new java.util.ArrayList<>();
    for (ModelConfig.Variant v : ModelConfig.Variant.values()) {
      for (int seed = 0; seed < 4; seed++) {
        SplittableRandom rnd = new SplittableRandom(seed);
        out.add(TestModels.randomConfig(rnd, 1 + seed % 3, 1 + seed % 2, seed % 2 == 0, seed != 1, seed != 2)
            .withVariant(v));
      }
      out.add(BundledConfigs.get(BundledConfigs.REF_SERVING).withVariant(v));
    }
    return out;
  }

  private static long digest(Parameters p) {
    long h = 1125899906842597L;
    for (Parameters.Tensor t : p.tensors()) {
      h = 31 * h + t.name().hashCode();
      for (int s : t.shape()) {
        h = 31 * h + s;
      }
      for (float x : t.data()) {
        h = 31 * h + Float.floatToRawIntBits(x);
      }
    }
    return h;
  }

  /**
   * Names, shapes, order and starting values of {@link Parameters#initialize}, bit for bit, as the
   * code before the table (kinds instead of name patterns) computed them: a fresh model and every
   * seeded training run stay what they were.
   */
  @Test
  void initializeGivesTheSameParametersAsBeforeTheTable() {
    long[] expected = {  // hiformer, hetero, vanilla: 4 random configs then ref-serving each
        6521483261957135712L, 8806992977547420051L, 9051675825339762956L, 5569015612379746778L, 8013288050113922266L,
        -3779735569563802636L, -6749840146198269530L, 4288671141593921431L, 3190830921099673218L, 5772479652239664857L,
        4061244203178422491L, -6563126948975731671L, -7169386346322612077L, 5885150353134701780L, 8155257247440629071L,
    };
    List<ModelConfig> configs = configs();
    long[] got = new long[configs.size()];
    for (int i = 0; i < got.length; i++) {
      got[i] = digest(Parameters.initialize(configs.get(i), i % 5 == 4 ? 42 : 17 + i % 5));  // as recorded
    }
    assertThat(got).containsExactly(expected);
  }

  /** Every view by role is the tensor of its name, and together the views reach every tensor once. */
  @Test
  void viewsByRoleAreTheNamedTensorsAndCoverThemAll() {
    for (ModelConfig c : configs()) {
      Parameters p = Parameters.initialize(c, 3);
      Set<float[]> reached = Collections.newSetFromMap(new IdentityHashMap<>());
      List<Field> embedded = c.embeddedFields();
      for (int e = 0; e < embedded.size(); e++) {
        assertThat(p.embedding(e)).isSameAs(p.get("emb." + embedded.get(e).name()));
        reached.add(p.embedding(e));
      }
      if (c.numDense() > 0) {
        assertThat(p.denseWeight()).isSameAs(p.get("dense.weight"));
        assertThat(p.denseBias()).isSameAs(p.get("dense.bias"));
        reached.add(p.denseWeight());
        reached.add(p.denseBias());
      } else {
        assertThat(p.denseWeight()).isNull();
        assertThat(p.has("dense.weight")).isFalse();
      }
      assertThat(p.taskTokens()).isSameAs(p.get("task_tokens"));
      reached.add(p.taskTokens());
      for (int l = 0; l < c.layers(); l++) {
        Parameters.LayerWeights w = p.layer(l);
        float[][] byField = {w.ln1g, w.ln1b, w.wq, w.uk, w.vk, w.uv, w.vv, w.wk, w.wv, w.wo, w.ln2g, w.ln2b,
            w.w1, w.b1, w.w2, w.b2};
        Parameters.LayerTensor[] tensors = Parameters.LayerTensor.values();
        assertThat(byField.length).isEqualTo(tensors.length);
        for (int i = 0; i < tensors.length; i++) {
          String name = "layers." + l + "." + tensors[i].suffix();
          assertThat(byField[i]).as(name).isSameAs(p.has(name) ? p.get(name) : null);
          assertThat(p.layer(l, tensors[i])).as(name).isSameAs(byField[i]);
          if (byField[i] != null) {
            reached.add(byField[i]);
          }
        }
      }
      assertThat(p.finalNormWeight()).isSameAs(p.get("final_ln.weight"));
      assertThat(p.finalNormBias()).isSameAs(p.get("final_ln.bias"));
      reached.add(p.finalNormWeight());
      reached.add(p.finalNormBias());
      for (int j = 0; j < c.numTasks(); j++) {
        for (int k = 0; k <= c.towerHidden().size(); k++) {
          assertThat(p.towerWeight(j, k)).isSameAs(p.get("towers." + j + "." + k + ".weight"));
          assertThat(p.towerBias(j, k)).isSameAs(p.get("towers." + j + "." + k + ".bias"));
          reached.add(p.towerWeight(j, k));
          reached.add(p.towerBias(j, k));
        }
      }
      assertThat(reached).as(c.variant().json()).hasSize(p.tensors().size());
      assertThat(ModelFile.tensorCount(c)).isEqualTo(p.tensors().size());
    }
  }

  /** Views of a copy, of gradients and of a file's tensors are their own arrays, not the source's. */
  @Test
  void viewsBelongToTheirInstance() {
    ModelConfig c = configs().get(0);
    Parameters p = Parameters.initialize(c, 1);
    Parameters copy = p.copy();
    assertThat(copy.layer(0).wq).isSameAs(copy.get("layers.0.attn.wq")).isNotSameAs(p.layer(0).wq);
    assertThat(copy.embedding(0)).isNotSameAs(p.embedding(0)).containsExactly(p.embedding(0));
  }

  @Test
  void embeddingKindIsTheEmbTablesOnly() {
    for (ModelConfig c : configs()) {
      for (Parameters.Spec s : Parameters.specs(c)) {
        assertThat(Parameters.isEmbedding(s.name())).as(s.name()).isEqualTo(s.kind() == Parameters.Kind.EMBEDDING);
        assertThat(s.kind() == Parameters.Kind.EMBEDDING).isEqualTo(s.name().startsWith("emb."));
      }
    }
  }

  /** Where Batch keeps each embedded field's ids: categorical columns, bags by -1 - k, schema order. */
  @Test
  void embeddedSlotsFollowTheBatchLayout() {
    ModelConfig c = new ModelConfig("slots", 4, 1, 1, List.of("click"), 1, 1, 1, List.of(), 1, false, List.of(
        new Field("x", FieldKind.DENSE, Side.USER, 0),
        new Field("bag_a", FieldKind.BAG, Side.USER, 5),
        new Field("c0", FieldKind.CATEGORICAL, Side.USER, 5),
        new Field("c1", FieldKind.CATEGORICAL, Side.ITEM, 5),
        new Field("bag_b", FieldKind.BAG, Side.ITEM, 5),
        new Field("c2", FieldKind.CATEGORICAL, Side.CONTEXT, 5)));
    assertThat(c.embeddedSlots()).containsExactly(-1, 0, 1, -2, 2);
  }
}
