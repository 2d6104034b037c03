/* The console's variant pickers list only the chosen product's variants.
 *
 * Wherever a form has a product autocomplete and a variant autocomplete side by side (a short
 * link, its routing rules and A/B arms, a UGC item's product mappings), the variant search
 * sends the product chosen beside it, and the server (catalog's VariantAdmin) filters by it.
 * Choosing another product clears a variant chosen before. Loaded after Django's
 * autocomplete.js and before the page is ready, it wraps the function that sets the widgets up.
 */
'use strict';
{
    const $ = django.jQuery;
    const setUp = $.fn.djangoAdminSelect2;

    function productFor(variant) {
        const name = variant.name.replace(/variant$/, 'product');
        return name === variant.name ? null : (variant.form || document).querySelector(
            `select[name="${CSS.escape(name)}"]`
        );
    }

    $.fn.djangoAdminSelect2 = function() {
        const variants = this.filter('[data-field-name="variant"]');
        setUp.call(this.not(variants));
        variants.each(function(i, element) {
            const product = productFor(element);
            if (!product) {
                setUp.call($(element));
                return;
            }
            $(element).select2({
                ajax: {
                    data: (params) => ({
                        term: params.term,
                        page: params.page,
                        app_label: element.dataset.appLabel,
                        model_name: element.dataset.modelName,
                        field_name: element.dataset.fieldName,
                        product: product.value || ''
                    })
                }
            });
            $(product).on('change', () => {
                if ($(element).val()) {
                    $(element).val(null).trigger('change');
                }
            });
        });
        return this;
    };
}
